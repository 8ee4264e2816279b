"""AffinityNet's math on hand-made cases: pairs, affinities, pair labels, the
loss, and the low/high-alpha label rule. Expected values are written by hand
from PSA's rules (Ahn and Kwak 2018), not computed by the code under test."""
import math

import numpy as np
import pytest
import torch

from mmdoei.datasets.transforms import affinity_label_from_scores, background_score, pool_scores
from mmdoei.models.affinity import (affinity_loss, from_window, pair_affinities, pair_indices, pair_labels,
                                    search_offsets)

# The 3 x 4 label map of the hand case (0 background, 1 and 2 classes, 255 unknown).
LABEL = [[0, 0, 1, 1],
         [0, 255, 1, 2],
         [0, 0, 2, 2]]


def test_search_offsets_radius_2_and_5():
    assert search_offsets(2) == [(0, 1), (1, -1), (1, 0), (1, 1)]
    offs = search_offsets(5)
    assert len(offs) == 34  # PSA's AffinityNet: 34 offsets, half of the radius-5 disc
    # x^2 + y^2 < 25: 4 to the right, then rows y = 1..4 with |x| <= 4, 4, 3, 2.
    assert offs[:4] == [(0, 1), (0, 2), (0, 3), (0, 4)]
    assert offs[4:13] == [(1, -4), (1, -3), (1, -2), (1, -1), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]
    assert offs[13:22] == [(2, -4), (2, -3), (2, -2), (2, -1), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4)]
    assert offs[22:29] == [(3, -3), (3, -2), (3, -1), (3, 0), (3, 1), (3, 2), (3, 3)]
    assert offs[29:] == [(4, -2), (4, -1), (4, 0), (4, 1), (4, 2)]
    assert all(dy > 0 or dx > 0 for dy, dx in offs)  # one direction per pair


def test_pair_indices_by_hand():
    # 3 x 4 map, radius 2: from pixels are rows 0..1, cols 1..2 -> flat 1, 2, 5, 6.
    ind_from, ind_to = pair_indices(3, 4, 2)
    assert ind_from.tolist() == [1, 2, 5, 6]
    assert ind_to.tolist() == [[2, 3, 6, 7],    # (0, 1)
                               [4, 5, 8, 9],    # (1, -1)
                               [5, 6, 9, 10],   # (1, 0)
                               [6, 7, 10, 11]]  # (1, 1)
    assert from_window(3, 4, 2) == (2, 2)
    assert from_window(4, 8, 5) == (0, 0)  # too narrow for radius 5: no pairs
    assert pair_indices(4, 8, 5)[1].shape == (34, 0)


def _pairs(mask, label_shape=(3, 4)):
    """Turn a (offsets, from) boolean mask into a set of ((r, c), (r, c)) pairs."""
    ind_from, ind_to = pair_indices(*label_shape, 2)
    w = label_shape[1]
    out = set()
    for k, n in zip(*np.nonzero(np.asarray(mask))):
        a, b = int(ind_from[n]), int(ind_to[k, n])
        out.add(((a // w, a % w), (b // w, b % w)))
    return out


def test_pair_labels_hand_case():
    bg, fg, neg = pair_labels(torch.tensor(LABEL), radius=2)
    # Every pair of the hand case, its two labels and its class, written out:
    # (0,1)-(0,2) 0/1 neg    (0,2)-(0,3) 1/1 fg     (1,1)-(1,2) 255/1 none  (1,2)-(1,3) 1/2 neg
    # (0,1)-(1,0) 0/0 bg     (0,2)-(1,1) 1/255 none (1,1)-(2,0) 255/0 none  (1,2)-(2,1) 1/0 neg
    # (0,1)-(1,1) 0/255 none (0,2)-(1,2) 1/1 fg     (1,1)-(2,1) 255/0 none  (1,2)-(2,2) 1/2 neg
    # (0,1)-(1,2) 0/1 neg    (0,2)-(1,3) 1/2 neg    (1,1)-(2,2) 255/2 none  (1,2)-(2,3) 1/2 neg
    assert _pairs(bg) == {((0, 1), (1, 0))}
    assert _pairs(fg) == {((0, 2), (0, 3)), ((0, 2), (1, 2))}
    assert _pairs(neg) == {((0, 1), (0, 2)), ((1, 2), (1, 3)), ((1, 2), (2, 1)), ((1, 2), (2, 2)),
                           ((0, 1), (1, 2)), ((0, 2), (1, 3)), ((1, 2), (2, 3))}
    assert not (bg & fg).any() and not (bg & neg).any() and not (fg & neg).any()


def test_pair_labels_unknown_both_ends_is_no_pair():
    label = torch.tensor([[255, 255, 255], [255, 255, 255]])
    bg, fg, neg = pair_labels(label, radius=2)
    assert not bg.any() and not fg.any() and not neg.any()


def test_pair_affinities_by_hand():
    # One channel, 2 x 3 map, radius 2: a single from pixel (0,1) with value 1.
    feats = torch.tensor([[[[0., 1., 3.], [1., 0.5, 2.]]]])
    aff = pair_affinities(feats, radius=2)
    # to (0,2)=3: |3-1|=2; (1,0)=1: 0; (1,1)=.5: .5; (1,2)=2: 1
    expected = torch.tensor([[[math.exp(-2)], [1.0], [math.exp(-0.5)], [math.exp(-1)]]])
    torch.testing.assert_close(aff, expected)
    # Two channels: the mean of the absolute differences.
    feats2 = torch.cat([feats, feats * 0], dim=1)
    torch.testing.assert_close(pair_affinities(feats2, 2), torch.exp(torch.log(expected) / 2))


def test_affinity_loss_by_hand():
    label = torch.tensor([LABEL])
    aff = torch.full((1, 4, 4), 0.5)
    aff[0, 1, 0] = 0.9   # the bg pair (0,1)-(1,0)
    aff[0, 0, 1] = 0.8   # fg pair (0,2)-(0,3)
    aff[0, 2, 1] = 0.6   # fg pair (0,2)-(1,2)
    aff[0, 0, 0] = 0.2   # a neg pair; the other six neg pairs stay at 0.5
    out = affinity_loss(aff, label, radius=2)
    eps = 1e-5
    bg = -math.log(0.9 + eps) / (1 + eps)
    fg = (-math.log(0.8 + eps) - math.log(0.6 + eps)) / (2 + eps)
    neg = (-math.log(1 + eps - 0.2) - 6 * math.log(1 + eps - 0.5)) / (7 + eps)
    assert out['loss_bg'].item() == pytest.approx(bg / 4, rel=1e-6)
    assert out['loss_fg'].item() == pytest.approx(fg / 4, rel=1e-6)
    assert out['loss_neg'].item() == pytest.approx(neg / 2, rel=1e-6)
    assert out['neg_count'].item() == pytest.approx(7, abs=1e-4)


def test_affinity_loss_counts_over_the_batch():
    # PSA normalises each term by the batch's pair count, not per image.
    label = torch.tensor([LABEL, [[0] * 4] * 3])  # second image: all background, 16 bg pairs
    aff = torch.full((2, 4, 4), 0.5)
    aff[0, 1, 0] = 0.9
    out = affinity_loss(aff, label, radius=2)
    bg = (-math.log(0.9 + 1e-5) - 16 * math.log(0.5 + 1e-5)) / (17 + 1e-5)
    assert out['loss_bg'].item() == pytest.approx(bg / 4, rel=1e-6)


def test_affinity_loss_rejects_labels_of_another_size():
    with pytest.raises(ValueError, match='feature resolution'):
        affinity_loss(torch.rand(1, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long), radius=2)


def test_background_score_by_hand():
    cams = np.array([[[0.5, 0.0]], [[0.25, 1.0]]], np.float32)  # K=2, 1 x 2
    np.testing.assert_allclose(background_score(cams, 2), [[[0.25, 0.0]]])
    np.testing.assert_allclose(background_score(np.zeros((0, 1, 2), np.float32), 4), [[[1.0, 1.0]]])


def test_pool_scores_completes_blocks_with_zeros():
    scores = np.arange(6, dtype=np.float32).reshape(2, 3, 1)  # [[0,1,2],[3,4,5]]
    pooled = pool_scores(scores, 2)
    # blocks: [0,1,3,4] -> 2; [2,5,0,0] -> 1.75 (zeros complete the block, as block_reduce)
    np.testing.assert_allclose(pooled[..., 0], [[2.0, 1.75]])


def test_label_rule_by_hand():
    # Three pixels in a row, channels [bg, class 4, class 9] -> values [0, 5, 10].
    low = np.array([[[0.1, 0.7, 0.2],     # low-alpha: class 4 wins -> 5
                     [0.6, 0.3, 0.1],     # low-alpha: background -> unknown ...
                     [0.6, 0.3, 0.1],     # ... unless high-alpha says background
                     [0.0, 0.0, 0.0],     # no score anywhere (padding) -> 255
                     [0.2, 0.2, 0.6]]],   # class 9 -> 10, but high-alpha bg wins
                   np.float32)
    high = np.array([[[0.1, 0.8, 0.1],
                      [0.2, 0.5, 0.3],    # high-alpha not bg -> stays 255
                      [0.7, 0.2, 0.1],    # confident background -> 0
                      [0.0, 0.0, 0.0],
                      [0.9, 0.05, 0.05]]], np.float32)
    label = affinity_label_from_scores(low, high, [0, 5, 10])
    assert label.dtype == np.uint8
    assert label.tolist() == [[5, 255, 0, 255, 0]]
