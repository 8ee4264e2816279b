"""CAM formulas, multi-scale inference and CAM files."""
from .inference import cam_overlay, multiscale_cams, save_cam, save_overlays
from .loop import CAMGenerationLoop
from .functional import (class_to_patch_attention, minmax_normalise, patch_affinity,
                         refine_with_affinity, resize_cams)

__all__ = [
    'CAMGenerationLoop', 'cam_overlay', 'multiscale_cams', 'save_cam', 'save_overlays','class_to_patch_attention', 'minmax_normalise', 'patch_affinity',
           'refine_with_affinity', 'resize_cams']
