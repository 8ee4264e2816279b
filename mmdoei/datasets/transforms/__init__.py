"""Stage-2 (pseudo-label) transforms, registered in mmpretrain's and mmseg's
``TRANSFORMS``: CAMs in, AffinityNet labels / seeds / checked pseudo masks out.
"""
from .affinity_label import (LoadAffinityLabelFromCAM, PoolAffinityLabel, RandomPad, affinity_label_from_scores,
                             alpha_scores, background_score, pool_scores)
from .cam_files import check_cam_file, check_cam_folder, read_cam, read_cam_header
from .crf import PSA_CRF, dense_crf
from .loading import CAMToSeed, LoadCAMFromFile, LoadPseudoMask

__all__ = [
    'LoadAffinityLabelFromCAM', 'RandomPad', 'PoolAffinityLabel', 'LoadCAMFromFile', 'CAMToSeed', 'LoadPseudoMask',
    'affinity_label_from_scores', 'alpha_scores', 'background_score', 'pool_scores', 'read_cam', 'read_cam_header',
    'check_cam_file', 'check_cam_folder', 'dense_crf', 'PSA_CRF'
]
