"""AffinityNet (PSA): the model, its head, the pair/loss math and the random walk.

Importing registers :class:`AffinityNet` and :class:`AffinityHead` in
mmpretrain's and mmseg's ``MODELS`` (and ResNet-38d with them).
"""
from ..backbones.resnet38d import ResNet38d
from .affinity_net import DEFAULT_TEST_CFG, AffinityNet
from .functional import (affinity_loss, from_window, gather_pairs, pair_affinities, pair_indices, pair_labels,
                         search_offsets)
from .head import AffinityHead
from .random_walk import (dense_affinity_matrix, random_walk, random_walk_dense, random_walk_labels, scores_to_labels,
                          sparse_transition, walk_scores)

__all__ = [
    'AffinityNet', 'AffinityHead', 'ResNet38d', 'DEFAULT_TEST_CFG', 'search_offsets', 'from_window', 'pair_indices',
    'gather_pairs', 'pair_affinities', 'pair_labels', 'affinity_loss', 'sparse_transition', 'random_walk',
    'random_walk_dense', 'dense_affinity_matrix', 'walk_scores', 'scores_to_labels', 'random_walk_labels'
]
