"""``DOEIHook``: DOEI for any mm-family model from three config lines."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

from .attach import attach_doei
from .config import DOEIConfig


@HOOKS.register_module()
class DOEIHook(Hook):
    """Attach DOEI to the model's backbone before the run starts.

    Usage in any mmpretrain, mmseg or timm (``TIMMBackbone``) ViT config,
    whatever its ``default_scope`` (the hook is in mmengine's root registry,
    which every scope's registry falls back to)::

        custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
        custom_hooks = [dict(type='DOEIHook', af_p2c=0.5, sf_p2c=-0.1)]

    The attention family (:data:`~mmdoei.doei.adapters.FAMILIES`) is found from
    the blocks' attention class and named in the log line; other attention
    classes are refused with the list of supported ones.

    The keyword arguments are those of :class:`~mmdoei.doei.DOEIConfig` and are
    validated when the config is built, before any training starts. The hook
    attaches in ``before_run``: after the model (and its wrapper) is built, before
    weights are initialised or a checkpoint is loaded, which works because DOEI
    adds no parameters.

    Args:
        module: Attribute path of the transformer inside the model; default
            ``'backbone'`` (the model itself if it has no backbone).
    """

    priority = 'VERY_HIGH'

    def __init__(self, module: Optional[str] = None, **doei) -> None:
        self.module = module
        self.cfg = DOEIConfig.from_dict(doei)

    def _target(self, model: nn.Module) -> nn.Module:
        if is_model_wrapper(model):
            model = model.module
        path = self.module or ('backbone' if hasattr(model, 'backbone') else '')
        for part in filter(None, path.split('.')):
            if not hasattr(model, part):
                raise AttributeError(f'DOEIHook: the model has no submodule {path!r}')
            model = getattr(model, part)
        return model

    def before_run(self, runner) -> None:
        target = self._target(runner.model)
        handle = attach_doei(target, self.cfg)
        runner.logger.info(
            f'DOEI attached to {type(target).__name__} ({handle.family.name} attention, adapter '
            f'{handle.family.adapter.__name__}): {handle.num_layers} of {handle.depth} blocks, '
            f'C={handle.num_cls}, {self.cfg.to_dict()}')
