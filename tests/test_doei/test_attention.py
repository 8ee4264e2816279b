"""DOEIAttention is a drop-in for mmpretrain's MultiheadAttention."""
import torch
from mmpretrain.models.utils import MultiheadAttention

from mmdoei.doei import DOEIAttention


def _pair():
    torch.manual_seed(0)
    ref = MultiheadAttention(embed_dims=32, num_heads=4).eval()
    return ref, DOEIAttention.from_attention(ref).eval()


def test_shares_parameters_and_keys():
    ref, ours = _pair()
    assert list(ref.state_dict()) == list(ours.state_dict())
    assert all(a is b for a, b in zip(ref.parameters(), ours.parameters()))


def test_same_output_fused_and_explicit():
    ref, ours = _pair()
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        y_ref = ref(x)
        assert torch.equal(ours(x), y_ref)  # fused path: bit-identical
        assert ours.attn_map is None
        ours.need_attn = True
        y = ours(x)
    torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=1e-5)
    A = ours.attn_map
    assert A.shape == (2, 10, 10)
    torch.testing.assert_close(A.sum(-1), torch.ones(2, 10))


def test_attn_map_is_head_mean_of_softmax():
    _, ours = _pair()
    ours.need_attn = True
    x = torch.randn(1, 5, 32)
    q, k, _ = ours.qkv(x).reshape(1, 5, 3, 4, 8).permute(2, 0, 3, 1, 4)
    expected = torch.softmax(q @ k.transpose(-2, -1) / 8 ** 0.5, -1).mean(1)
    ours(x)
    torch.testing.assert_close(ours.attn_map, expected)


def test_registered_in_root_registry():
    from mmengine.registry import MODELS
    m = MODELS.build(dict(type='DOEIAttention', embed_dims=16, num_heads=2, need_attn=True))
    assert isinstance(m, DOEIAttention) and m.need_attn
