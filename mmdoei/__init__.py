"""mmdoei: DOEI for weakly supervised semantic segmentation, an OpenMMLab 2.x plugin.

Importing the package registers everything (models, datasets, transforms,
metrics, hooks) and applies the mmengine/torch compatibility fixes in
:mod:`mmdoei.utils.compat`.
"""
from .utils import compat as _compat

_compat.apply()

from . import apis, cam, datasets, doei, evaluation, models, psa, segmentation  # noqa: E402,F401
from .doei import DOEIAttention, DOEIConfig, DOEIHook, attach_doei  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['DOEIAttention', 'DOEIConfig', 'DOEIHook', 'attach_doei', '__version__']
