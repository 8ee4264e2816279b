"""Transforms of stages 2 and 3: CAMs in, AffinityNet labels / seeds / checked
pseudo masks out (registered in mmpretrain's and mmseg's ``TRANSFORMS``), and
DeepLab's random rescale (mmseg's)."""
from .affinity_label import (LoadAffinityLabelFromCAM, PoolAffinityLabel, RandomPad, affinity_label_from_scores,
                             alpha_scores, background_score, pool_scores)
from .loading import CAMToSeed, LoadCAMFromFile, LoadPseudoMask
from .processing import RandomRescale

__all__ = [
    'LoadAffinityLabelFromCAM', 'RandomPad', 'PoolAffinityLabel', 'LoadCAMFromFile', 'CAMToSeed', 'LoadPseudoMask',
    'RandomRescale', 'affinity_label_from_scores', 'alpha_scores', 'background_score', 'pool_scores'
]
