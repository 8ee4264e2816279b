"""The DOEI operator against hand-computed values and the spec's invariants."""
import pytest
import torch

from mmdoei.doei import functional as Fd

# A hand-made case, C = 2 class tokens, N = 4 patches, D = 2 channels.
# A is not a softmax (the operator does not need one), chosen so that no
# top-k has ties. Expected values are worked out by hand in the comments.
C, N = 2, 4


def _case():
    A = torch.zeros(1, 6, 6)
    A[0, 0, 2:] = torch.tensor([.1, .2, .3, .4])
    A[0, 1, 2:] = torch.tensor([.4, .3, .2, .1])
    A[0, 2, 0] = .1          # patch 0 -> class 0
    A[0, 5, 1] = .15         # patch 3 -> class 1
    A[0, 0, 0], A[0, 0, 1], A[0, 1, 0], A[0, 1, 1] = .5, .1, .3, .25
    x_cls = torch.tensor([[1., 0.], [0., 1.]])
    x_patch = torch.tensor([[1., 1.], [2., 0.], [0., 2.], [1., -1.]])
    x = torch.cat([x_cls, x_patch])[None]
    return A, x


def test_scores_by_hand():
    A, _ = _case()
    P, S = Fd.doei_scores(A, C)
    torch.testing.assert_close(P[0], torch.tensor([[.2, .2, .3, .4], [.4, .3, .2, .25]]))
    torch.testing.assert_close(S[0], torch.tensor([[1.0, .4], [.4, .5]]))


# Block 1 of L = 3 with st = 0.25: k_p = round(4 * 2 * .25) = 2, k_c = round(2 * 2 * .25) = 1.
# M_cs = [[0,0,1,1],[1,1,0,0]]; A_cs^T X_cls = [[0,.4],[0,.3],[.3,0],[.4,0]];
# colsum(A_ns) = [.2,.2,.2,.25];  CPDO: S*Mc_cs = diag(1, .5), S*Mc_ns = [[0,.4],[.4,0]].
EXPECTED_SELF = torch.tensor([
    [1.5, -.04], [-.04, 1.25],                       # x_cls + .5 S_cs x_cls - .1 S_ns x_cls
    [.98, 1.18], [1.96, .15], [.15, 1.96], [1.175, -.975],  # x + .5 A_cs^T x_cls - .1 colsum * x
])
EXPECTED_CLASS = torch.tensor([
    [1.5, -.04], [-.04, 1.25],
    [.98, 1.2], [1.98, .15], [.15, 1.98], [1.2, -1.025],    # ... - .1 A_ns^T x_cls
])
HAND = dict(st_p2c=.25, af_p2c=.5, sf_p2c=-.1, st_c2c=.25, af_c2c=.5, sf_c2c=-.1)


@pytest.mark.parametrize('suppress,expected', [('self', EXPECTED_SELF), ('class', EXPECTED_CLASS)])
def test_one_update_by_hand(suppress, expected):
    A, x = _case()
    out = Fd.doei_update(x, A, C, block=1, depth=3, ppdo_suppress=suppress, **HAND)
    torch.testing.assert_close(out[0], expected)


def test_k_schedule_deit_small():
    # docs/method.md: N = 196, L = 12, ST = 0.01 keeps 22, 12 and 2 patches in blocks 1, 6, 11.
    ks = [Fd.num_confident(i, 12, 196, .01) for i in range(1, 13)]
    assert ks == [22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0]
    assert [Fd.num_confident(i, 12, 20, .01) for i in range(1, 13)] == \
        [2, 2, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0]
    assert Fd.num_confident(1, 12, 196, 1.0) == 196  # clamped to N
    assert Fd.num_confident(1, 3, 4, 0.0625) == 1    # 0.5 rounds up


@pytest.mark.parametrize('k,expected', [
    (0, [[0, 0, 0, 0], [0, 0, 0, 0]]),
    (1, [[0, 1, 0, 0], [1, 0, 0, 0]]),
    (2, [[0, 1, 0, 1], [1, 0, 1, 0]]),
    (3, [[1, 1, 0, 1], [1, 0, 1, 1]]),
    (4, [[1, 1, 1, 1], [1, 1, 1, 1]]),
])
def test_topk_mask_by_hand(k, expected):
    # Row 0 ranks its entries 1, 3, 0, 2; row 1 ranks them 0, 2, 3, 1 (no ties).
    scores = torch.tensor([[[.3, .9, .1, .5], [.8, .2, .6, .4]]])
    assert torch.equal(Fd.topk_mask(scores, k), torch.tensor([expected], dtype=torch.bool))


def test_topk_mask_keeps_the_k_largest():
    torch.manual_seed(0)
    scores = torch.rand(3, 5, 50)
    for k in (1, 7, 49):
        m_cs = Fd.topk_mask(scores, k)
        assert (m_cs.sum(-1) == k).all()
        assert (scores[m_cs].view(3, 5, k).min(-1).values
                >= scores[~m_cs].view(3, 5, 50 - k).max(-1).values).all()


def _random_case(C=3, N=16, D=8, B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.rand(B, C + N, C + N, generator=g).softmax(-1)
    x = torch.randn(B, C + N, D, generator=g)
    return A, x


@pytest.mark.parametrize('kw', [
    dict(af_p2c=0, sf_p2c=0, af_c2c=0, sf_c2c=0),
    dict(ppdo=False, cpdo=False),
])
def test_identity_settings_return_input_exactly(kw):
    A, x = _random_case()
    base = dict(st_p2c=.1, af_p2c=.5, sf_p2c=-.1, st_c2c=.1, af_c2c=.5, sf_c2c=-.1, alpha=.35,
                hfa=torch.eye(16).expand(2, 16, 16))
    out = Fd.doei_update(x, A, 3, 1, 4, **{**base, **kw})
    assert torch.equal(out, x)


def test_cpdo_is_noop_with_one_class_token():
    A, x = _random_case(C=1)
    kw = dict(st_p2c=.1, af_p2c=.5, sf_p2c=-.1, st_c2c=.5, af_c2c=.5, sf_c2c=-.1)
    out = Fd.doei_update(x, A, 1, 1, 4, **kw)
    assert torch.equal(out[:, :1], x[:, :1])
    assert not torch.equal(out[:, 1:], x[:, 1:])
    assert torch.equal(out, Fd.doei_update(x, A, 1, 1, 4, cpdo=False, **kw))


def test_alpha_zero_is_no_hfa():
    A, x = _random_case()
    H = torch.rand(2, 16, 16).softmax(-1)
    kw = dict(st_p2c=.1, af_p2c=.5, sf_p2c=-.1, st_c2c=.1, af_c2c=.5, sf_c2c=-.1)
    assert torch.equal(Fd.doei_update(x, A, 3, 1, 4, alpha=0., hfa=H, **kw),
                       Fd.doei_update(x, A, 3, 1, 4, alpha=0., hfa=None, **kw))
    assert not torch.equal(Fd.doei_update(x, A, 3, 1, 4, alpha=.5, hfa=H, **kw),
                           Fd.doei_update(x, A, 3, 1, 4, alpha=0., hfa=None, **kw))


def test_hfa_blend_formula():
    P = torch.tensor([[[1., 0., 0.]]])
    H = torch.tensor([[[.5, .5, 0.], [0., 1., 0.], [.25, .25, .5]]])
    # (P @ H^T)[j] = sum_k P[k] H[j, k] = H[j, 0] = [.5, 0, .25]
    torch.testing.assert_close(Fd.hfa_blend(P, H, .4), torch.tensor([[[.8, 0., .1]]]))


def test_hfa_affinity_rows_sum_to_one_and_follow_colour():
    # Left half red, right half blue, identical embeddings: affinity only within a half.
    img = torch.zeros(1, 3, 4, 8)
    img[:, 0, :, :4] = 1.
    img[:, 2, :, 4:] = 1.
    e = torch.ones(1, 8, 5)  # grid 2 x 4 with patch 2
    H = Fd.hfa_affinity(img, e, (2, 4))
    torch.testing.assert_close(H.sum(-1), torch.ones(1, 8))
    left = torch.tensor([0, 1, 4, 5])
    right = torch.tensor([2, 3, 6, 7])
    assert H[0][left][:, right].abs().max() == 0
    torch.testing.assert_close(H[0][left][:, left], torch.full((4, 4), .25))


def test_gradients_flow_through_scores_not_masks():
    A, x = _random_case()
    A.requires_grad_(True)
    kw = dict(st_p2c=.1, af_p2c=.5, sf_p2c=-.1, st_c2c=.1, af_c2c=.5, sf_c2c=-.1)
    Fd.doei_update(x, A, 3, 1, 4, **kw).sum().backward()
    assert A.grad is not None and A.grad.abs().sum() > 0
    A2 = A.detach().clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    Fd.doei_update(x2, A2, 3, 1, 4, detach_scores=True, **kw).sum().backward()
    assert A2.grad is None or A2.grad.abs().sum() == 0
    assert x2.grad.abs().sum() > 0


def test_bad_suppress_mode():
    A, x = _random_case()
    with pytest.raises(ValueError, match="ppdo_suppress must be 'self' or 'class'"):
        Fd.doei_update(x, A, 3, 1, 4, st_p2c=.1, af_p2c=.5, sf_p2c=-.1, st_c2c=.1,
                       af_c2c=.5, sf_c2c=-.1, ppdo_suppress='both')
