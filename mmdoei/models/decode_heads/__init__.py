"""Stage-3 decode heads mmseg lacks (DeepLab-v1 LargeFOV, DeepLab-v2 ASPP), in mmseg's ``MODELS``."""
from .deeplab_heads import ASPPV2Head, LargeFOVHead

__all__ = ['ASPPV2Head', 'LargeFOVHead']
