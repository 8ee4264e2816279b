"""The random walk: a hand-computed step, the sparse walk against PSA's dense
squaring on fixed inputs, the CAM input (background, padding, pooling) and the
label mapping."""
import pytest
import torch

from mmdoei.models.affinity import (dense_affinity_matrix, from_window, random_walk, random_walk_dense,
                                    random_walk_labels, scores_to_labels, search_offsets, sparse_transition,
                                    walk_scores)


def _fixed_affinities(h, w, radius, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows, cols = from_window(h, w, radius)
    return torch.rand(len(search_offsets(radius)), rows * cols, generator=g)


def test_one_step_by_hand():
    # 2 x 3 map, radius 2: one from pixel, flat 1 = (0,1), joined to 2, 3, 4, 5
    # with affinities .5, 1, .25, 0; pixel 0 joins nothing. beta = 1, one step.
    aff = torch.tensor([[0.5], [1.0], [0.25], [0.0]], dtype=torch.float64)
    v = torch.tensor([[1., 2., 3., 4., 5., 6.]], dtype=torch.float64).view(1, 2, 3)
    out = random_walk(aff, v, radius=2, beta=1, logt=0).reshape(-1)
    # (v T)_j = sum_i v_i A_ij / d_j with d_j the column sums of A (diagonal 1):
    # d = [1, 1 + 1.75, 1.5, 2, 1.25, 1]
    expected = [1.0,
                (2 + 0.5 * 3 + 1.0 * 4 + 0.25 * 5 + 0 * 6) / 2.75,
                (3 + 0.5 * 2) / 1.5,
                (4 + 1.0 * 2) / 2.0,
                (5 + 0.25 * 2) / 1.25,
                6.0]
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(random_walk_dense(aff, v, 2, 1, 0).reshape(-1), out)


def test_dense_matrix_is_psas():
    aff = torch.tensor([[0.5], [1.0], [0.25], [0.0]])
    mat = dense_affinity_matrix(aff, 2, 3, 2)
    expected = torch.eye(6)
    for j, a in zip((2, 3, 4, 5), (0.5, 1.0, 0.25, 0.0)):
        expected[1, j] = expected[j, 1] = a
    torch.testing.assert_close(mat, expected)


def test_sparse_transition_rows_sum_to_one():
    trans_t = sparse_transition(_fixed_affinities(7, 11, 3), 7, 11, 3, beta=8).to_dense()
    torch.testing.assert_close(trans_t.sum(1), torch.ones(77))
    assert (trans_t > 0).sum(1).max() <= 1 + 2 * len(search_offsets(3))  # sparse: a neighbourhood per row


@pytest.mark.parametrize('h,w,radius,beta,logt', [(9, 13, 3, 8, 4), (12, 17, 5, 8, 6), (10, 14, 5, 4, 8)])
def test_sparse_walk_equals_dense_squaring(h, w, radius, beta, logt):
    aff = _fixed_affinities(h, w, radius, seed=h)
    scores = torch.rand(3, h, w, generator=torch.Generator().manual_seed(w))
    sparse = random_walk(aff.double(), scores.double(), radius, beta, logt)
    dense = random_walk_dense(aff.double(), scores.double(), radius, beta, logt)
    torch.testing.assert_close(sparse, dense, rtol=1e-9, atol=1e-12)
    # float32, the default: same labels
    assert torch.equal(random_walk(aff, scores, radius, beta, logt).argmax(0),
                       random_walk_dense(aff, scores, radius, beta, logt).argmax(0))


def test_walk_scores_background_padding_pooling():
    cams = torch.tensor([[[0.5, 1.0], [0.0, 0.5]]])  # one class, 2 x 2
    out = walk_scores(cams, (2, 4), stride=2, alpha=2)
    # bg = (1 - cam)^2 = [[.25, 0], [1, .25]]; padded by two zero columns; 2 x 2 means
    torch.testing.assert_close(out, torch.tensor([[[0.375, 0.0]], [[0.5, 0.0]]]))
    out = walk_scores(cams, (2, 2), stride=2, bg_threshold=0.4)
    torch.testing.assert_close(out, torch.tensor([[[0.4]], [[0.5]]]))
    with pytest.raises(ValueError, match='multiples of 2'):
        walk_scores(cams, (3, 4), stride=2)


def test_scores_to_labels_crops_to_the_image():
    scores = torch.tensor([[[0.5, 0.5]], [[1.0, 0.0]]])  # background .5; class 1 then 0
    lab = scores_to_labels(scores, (2, 4), (2, 3))
    # bilinear (align_corners=False) up-sampling of the class row to width 4: 1, .75, .25, 0
    assert lab.tolist() == [[1, 1, 0], [1, 1, 0]]


def test_labels_walking_present_classes_equal_walking_all_rows():
    # PSA walks 21 rows; absent classes are zero rows and can never win.
    h, w = 10, 14
    aff = _fixed_affinities(h, w, 5, seed=3)
    g = torch.Generator().manual_seed(4)
    cams = torch.rand(2, 75, 108, generator=g)
    keys = [14, 2]  # unsorted on purpose: labels carry the class ids, not positions
    lab = random_walk_labels(aff, (h, w), cams, keys, radius=5, logt=4)
    full = torch.zeros(20, 75, 108)
    full[14], full[2] = cams[0], cams[1]
    lab_all = random_walk_labels(aff, (h, w), full, list(range(20)), radius=5, logt=4, dense=True)
    assert lab.shape == (75, 108)
    assert torch.equal(lab, lab_all)
    assert set(lab.unique().tolist()) <= {0, 3, 15}


def test_bad_affinity_shape_names_the_sizes():
    with pytest.raises(ValueError, match='do not fit a 6x9 map'):
        random_walk(torch.rand(34, 5), torch.rand(2, 6, 9), radius=5)
