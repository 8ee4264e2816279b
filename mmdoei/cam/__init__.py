"""CAM formulas, multi-scale inference and CAM files."""
from .functional import (class_to_patch_attention, minmax_normalise, patch_affinity,
                         refine_with_affinity, resize_cams)

__all__ = ['class_to_patch_attention', 'minmax_normalise', 'patch_affinity',
           'refine_with_affinity', 'resize_cams']
