"""CAM formulas, multi-scale inference and CAM files."""
from .inference import (CAM_PROTOCOLS, cam_overlay, multiscale_cams, normalise_cam_sum, pass_sizes,
                        pil_resize, save_cam, save_overlays)
from .loop import CAMGenerationLoop
from .functional import (class_to_patch_attention, minmax_normalise, patch_affinity,
                         refine_with_affinity, resize_cams)

__all__ = [
    'CAMGenerationLoop', 'CAM_PROTOCOLS', 'cam_overlay', 'multiscale_cams', 'normalise_cam_sum', 'pass_sizes',
    'pil_resize', 'save_cam', 'save_overlays', 'class_to_patch_attention', 'minmax_normalise', 'patch_affinity',
    'refine_with_affinity', 'resize_cams'
]
