"""The CAM core, just above :mod:`mmdoei.utils`: CAM formulas, multi-scale + flip
CAMs of one image and the named protocols (:mod:`.multiscale`), the CAM file
format and paths (:mod:`.io`) and seeds (:mod:`.seeds`; how good they are is
:mod:`mmdoei.evaluation`'s).

Free of the rest of mmdoei (the classifiers' protocols are found in the
``MODELS`` registry, not imported), so models, datasets, metrics,
loops and tools all build on it without an upward import.
"""
from .functional import class_to_patch_attention, patch_affinity, refine_with_affinity, resize_cams
from .io import (CAM_SUFFIX, cam_files, cam_path, check_cam_file, check_cam_folder, check_cam_suffix, load_cam,
                 read_cam, read_cam_header, read_sample_cam, save_cam)
from .multiscale import (CAM_PROTOCOLS, NAMED_PROTOCOLS, CAMProtocols, cam_overlay, multiscale_cams, normalise_cam_sum,
                         pass_sizes, pil_resize, save_overlays)
from .seeds import cams_to_seed, minmax_normalise, top_foreground

__all__ = [
    'class_to_patch_attention', 'patch_affinity', 'refine_with_affinity', 'resize_cams', 'CAM_PROTOCOLS',
    'NAMED_PROTOCOLS', 'CAMProtocols', 'cam_overlay', 'multiscale_cams', 'normalise_cam_sum', 'pass_sizes',
    'pil_resize', 'save_overlays', 'CAM_SUFFIX', 'cam_files', 'cam_path', 'check_cam_file', 'check_cam_folder',
    'check_cam_suffix', 'load_cam', 'read_cam', 'read_cam_header', 'read_sample_cam', 'save_cam',
    'cams_to_seed', 'minmax_normalise', 'top_foreground'
]
