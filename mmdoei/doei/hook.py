"""``DOEIHook``: DOEI for any mm-family model from three config lines."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .config import DOEIConfig
from .model import attach_logged, doei_target


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
    adds no parameters. A model built with DOEI of the same settings already
    (a ``DOEIModel`` config, :mod:`mmdoei.doei.model`) is left as it is, so DOEI
    is never attached twice; other settings replace the model's.

    Args:
        module: Attribute path of the transformer inside the model; default
            ``'backbone'`` (the model itself if it has no backbone).
    """

    priority = 'VERY_HIGH'

    def __init__(self, module: Optional[str] = None, **doei) -> None:
        self.module = module
        self.cfg = DOEIConfig.from_dict(doei)

    def before_run(self, runner) -> None:
        target = doei_target(runner.model, self.module)
        old = getattr(target, '_doei_handle', None)
        if old is not None and old.cfg == self.cfg:
            # Built with DOEI already (a DOEIModel config, or init_model): attaching again would
            # only repeat the same hooks and the log line.
            runner.logger.debug('DOEIHook: DOEI is already attached with these settings')
            return
        attach_logged(runner.model, self.cfg, self.module)
