"""Models of the three stages, by component as in mmpretrain and mmseg.

* ``backbones``: the multi-class-token ViT, TransCAM's Conformer, ResNet-38d;
* ``classifiers``, ``heads``, ``losses``, ``necks``: stage 1 (MCTformer-V1/V2, TS-CAM, TransCAM);
* ``affinity``: stage 2 (PSA's AffinityNet, its head, the random walk);
* ``decode_heads``, ``segmentors``: stage 3 (DeepLab heads, CRF test-time augmentation);
* ``utils``: checkpoint conversion.

The subpackages are imported on first use (``mmdoei.models.X`` or a registry
lookup, see :mod:`mmdoei`), not by ``import mmdoei.models``: the zoo index
imports :mod:`.utils` at ``import mmdoei`` and must not pull mmpretrain's and
mmseg's model packages (seconds of torchvision, torch._dynamo, timm) with it.
"""
import importlib
from typing import Any, List

# every module that registers a class: what a registry lookup imports (mmdoei.register_lazily)
REGISTERING = ('affinity', 'backbones', 'classifiers', 'decode_heads', 'heads', 'losses', 'necks', 'segmentors')
_SUBMODULES = REGISTERING + ('utils', )


def __getattr__(name: str) -> Any:
    """A subpackage, or a name exported by one (as ``from .backbones import *`` did), imported now."""
    if name in _SUBMODULES:
        return importlib.import_module(f'{__name__}.{name}')
    if not name.startswith('_'):
        for sub in REGISTERING:
            module = importlib.import_module(f'{__name__}.{sub}')
            if name in getattr(module, '__all__', ()) or (sub == 'necks' and name == 'ClassTokenNeck'):
                return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
