"""mmdoei: DOEI for weakly supervised semantic segmentation, an OpenMMLab 2.x plugin.

Packages, by component as in mmpretrain and mmseg, in layers; a module imports
only from its own layer or lower ones (``tests/test_imports.py`` checks this
and that there is no import cycle)::

    utils                      file helpers, CRF, config reading, setup_env   (imports no mmdoei)
    cam                        CAM formulas, protocols, CAM files, seeds      (the CAM core)
    doei                       the DOEI operator, attention layer, hook
    models, datasets,          stage 1-3 models; datasets and transforms;
      generators               the procedural pretraining set
    evaluation, engine         every score, metrics and reports; loops and hooks
    apis, analysis             config surgery, stages in-process, the pipeline, notebooks; CAM comparison, mechanism

The research harness (synthetic VOC/COCO sets, stand-in CAMs, the DOEI sweep)
is not part of the package: it lives in the repository's ``projects/wsss_lab``,
imports mmdoei and is never imported by it.

Registration policy: ``import mmdoei`` registers the model zoo's index
(:mod:`mmdoei.apis.hub`, also for mmpretrain's ``ModelHub``), safe checkpoint
loaders (below) and, lazily, every class: the modules that define classes are
added to the import ``locations`` of the registries of mmengine, mmpretrain
and mmseg, so the first lookup by type name (building a config's model,
dataset, transform, metric, hook or loop; ``REGISTRY.get``; ``name in
REGISTRY``) imports them, as mmengine does for mmpretrain's and mmseg's own
modules. So ``import mmdoei`` costs little more than importing torch,
mmengine, mmpretrain and mmseg (``benchmarks/import_time.py``), and the
packages it names (``mmdoei.models``, ``mmdoei.DOEIHook``, ...) are imported
when first used. Safe checkpoint loaders: every scheme of mmengine's
``CheckpointLoader`` that ends
in ``torch.load`` (local files, ``http(s)://`` with hash checks and through it
``torchvision://``/``mmcls://``, ``s3://``/``petrel://``, ``pavi://``,
``open-mmlab://``) loads with an explicit ``weights_only=True`` and mmengine's
allow-list of checkpoint globals applied for that one load
(:mod:`mmdoei.utils.weights`, :mod:`mmdoei.utils.download`). That only tightens
mmengine's loading; nothing else is patched and torch's global allow-list is
left as it is. Each class is registered
where it is defined, by a decorator, in the registry of the library whose
configs build it: mmpretrain's for stage 1 (and stage 2's AffinityNet, which
trains in that scope), mmseg's for stage 3, mmengine's root ``HOOKS`` and
``LOOPS`` for hooks and loops (every scope searches the root). A class that both
scopes build is registered in each with
:func:`mmdoei.utils.registry.register_in`. So a config needs only
``custom_imports = dict(imports=['mmdoei'])``.

The other mmengine/torch fixes (torchrun and srun on CPU-only machines, and
the checkpoint globals in torch's allow-list for the whole process) are
applied by :func:`mmdoei.utils.setup_env`, which the tools and the
stage-running ``mmdoei.apis`` functions call; on a GPU machine it leaves
mmengine's distributed functions untouched. Loading a model in a notebook
(``init_model``, ``get_model``, ``CAMInferencer``) needs no ``setup_env``.
"""
import importlib
from typing import Any, List

from . import apis, utils  # noqa: F401  the safe checkpoint loaders; the zoo index (apis.hub)
from .utils import setup_env
from .version import __version__

# The modules that register classes, imported by the first registry lookup (register_lazily).
REGISTERING = ('mmdoei.doei', 'mmdoei.datasets', 'mmdoei.evaluation', 'mmdoei.engine') + tuple(
    f'mmdoei.models.{sub}' for sub in ('affinity', 'backbones', 'classifiers', 'decode_heads', 'heads', 'losses',
                                       'necks', 'segmentors'))
_SUBPACKAGES = ('analysis', 'apis', 'cam', 'datasets', 'doei', 'engine', 'evaluation', 'generators', 'models',
                'utils')
_FROM_DOEI = ('DOEIAttention', 'DOEIConfig', 'DOEIHook', 'attach_doei')


def register_lazily() -> None:
    """Add :data:`REGISTERING` to the import locations of every registry of mmengine, mmpretrain and mmseg.

    mmengine's ``Registry.get`` imports a registry's ``locations`` once, before
    its first lookup (that is how mmpretrain's and mmseg's own classes are
    registered); with mmdoei's modules among them, any lookup imports every
    mmdoei class before it searches, in whichever scope. A registry that had
    already imported its locations is marked to do so again (the modules
    imported before are not re-run).
    """
    import mmengine.registry
    import mmpretrain.registry
    import mmseg.registry
    from mmengine.registry import Registry

    seen = set()
    todo = [obj for module in (mmengine.registry, mmpretrain.registry, mmseg.registry)
            for obj in vars(module).values() if isinstance(obj, Registry)]
    while todo:
        registry = todo.pop()
        if id(registry) in seen:
            continue
        seen.add(id(registry))
        todo.extend(registry._children.values())
        if not set(REGISTERING) <= set(registry._locations):
            # a new list: registries without locations share the default argument's list
            registry._locations = list(registry._locations) + [m for m in REGISTERING if m not in registry._locations]
            registry._imported = False


register_lazily()


def __getattr__(name: str) -> Any:
    """A subpackage, or one of the DOEI names, imported on first use."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f'{__name__}.{name}')
    if name in _FROM_DOEI:
        return getattr(importlib.import_module(f'{__name__}.doei'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_SUBPACKAGES) | set(__all__))


__all__ = ['DOEIAttention', 'DOEIConfig', 'DOEIHook', 'attach_doei', 'register_lazily', 'setup_env', '__version__']
