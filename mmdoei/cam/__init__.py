"""The CAM core, just above :mod:`mmdoei.utils`: CAM formulas, multi-scale + flip
inference of one image, the CAM file format (:mod:`.io`) and seeds (:mod:`.seeds`; how good they are is
:mod:`mmdoei.evaluation`'s).

Free of registries and of the rest of mmdoei, so models, datasets, metrics,
loops and tools all build on it without an upward import.
"""
from .functional import class_to_patch_attention, patch_affinity, refine_with_affinity, resize_cams
from .inference import (CAM_PROTOCOLS, cam_overlay, multiscale_cams, normalise_cam_sum, pass_sizes, pil_resize,
                        save_overlays)
from .io import check_cam_file, check_cam_folder, load_cam, read_cam, read_cam_header, save_cam
from .seeds import cams_to_seed, minmax_normalise, top_foreground

__all__ = [
    'class_to_patch_attention', 'patch_affinity', 'refine_with_affinity', 'resize_cams', 'CAM_PROTOCOLS',
    'cam_overlay', 'multiscale_cams', 'normalise_cam_sum', 'pass_sizes', 'pil_resize', 'save_overlays',
    'check_cam_file', 'check_cam_folder', 'load_cam', 'read_cam', 'read_cam_header', 'save_cam',
    'cams_to_seed', 'minmax_normalise', 'top_foreground'
]
