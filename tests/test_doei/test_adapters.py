"""DOEI in every supported attention family, on small instances built by the upstream registries.

For each family: DOEI with zero factors equals the stock model; the defaults
change the output; parameters and state-dict keys stay; the adapter's map equals
the softmax attention computed here by hand from q and k (with the family's
relative position bias or RoPE), and one DOEI step equals
``mmdoei.doei.functional`` applied to that map.
"""
import copy
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS as SEG_MODELS
from torch import nn

from mmdoei.doei import FAMILIES, DOEIAttention, adapt_attention, attach_doei, attention_family
from mmdoei.doei.attach import find_patch_embed
from mmdoei.doei.functional import doei_update, hfa_affinity

IMG = 64  # 8 x 8 patches of 8 pixels: N = 64, so block 1 of 2 keeps k_p = 1 confident patch
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _heads(qkv, B, T, h):
    return qkv.reshape(B, T, 3, h, -1).permute(2, 0, 3, 1, 4)


def _map_mmpretrain(attn, args, kwargs):
    x = args[0]
    q, k, _ = _heads(attn.qkv(x), *x.shape[:2], attn.num_heads)
    return ((q @ k.transpose(-2, -1)) * attn.head_dims**-0.5).softmax(-1).mean(1)


def _map_mmcv(attn, args, kwargs):
    x, mha = args[0], attn.attn  # mmseg calls it batch first
    q, k, _ = _heads(F.linear(x, mha.in_proj_weight, mha.in_proj_bias), *x.shape[:2], mha.num_heads)
    return ((q @ k.transpose(-2, -1)) / mha.head_dim**0.5).softmax(-1).mean(1)


def _map_timm(attn, args, kwargs):
    x = args[0]
    q, k, _ = _heads(attn.qkv(x), *x.shape[:2], attn.num_heads)
    q, k = attn.q_norm(q), attn.k_norm(k)
    return ((q @ k.transpose(-2, -1)) * attn.head_dim**-0.5).softmax(-1).mean(1)


def _map_beit(attn, args, kwargs):
    x = args[0]
    B, T, _ = x.shape
    bias = torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias))
    q, k, _ = _heads(F.linear(x, attn.qkv.weight, bias), B, T, attn.num_heads)
    logits = (q * attn.scale) @ k.transpose(-2, -1)
    if attn.relative_position_bias_table is not None:  # per-layer bias: (heads, T, T)
        table = attn.relative_position_bias_table[attn.relative_position_index.view(-1)]
        logits = logits + table.view(T, T, -1).permute(2, 0, 1)
    shared = kwargs.get('rel_pos_bias', args[1] if len(args) > 1 else None)
    if shared is not None:
        logits = logits + shared
    return logits.softmax(-1).mean(1)


def _map_eva02(attn, args, kwargs):
    x, grid = args[0], args[1]
    q, k, _ = _heads(attn.qkv(x), *x.shape[:2], attn.num_heads)
    # RoPE rotates the patch tokens' q and k; the class token is left as is.
    q = torch.cat((q[:, :, :1], attn.rope(q[:, :, 1:], grid)), -2)
    k = torch.cat((k[:, :, :1], attn.rope(k[:, :, 1:], grid)), -2)
    return ((q * attn.scale) @ k.transpose(-2, -1)).softmax(-1).mean(1)


def _perturb_beit(model: nn.Module) -> None:
    """BEiT initialises its relative position tables and q/v biases to zero: make
    them matter, so that a map missing them would be caught."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'relative_position_bias_table' in name or name.endswith(('q_bias', 'v_bias')):
                p.copy_(torch.randn(p.shape, generator=g))


@dataclass
class Case:
    family: str                 # AttentionFamily.name
    scope: str                  # the upstream registry's scope
    cfg: dict
    hand_map: Callable
    num_cls: int = 1
    bitwise: bool = False       # zero factors give the stock output bit for bit
    perturb: Optional[Callable] = None


CASES: Dict[str, Case] = {
    # Fused upstream (torch SDPA): equal to float rounding only.
    'mmpretrain-vit': Case('mmpretrain MultiheadAttention', 'mmpretrain',
                           dict(type='VisionTransformer', arch=TINY, img_size=IMG, patch_size=8,
                                out_type='raw'), _map_mmpretrain),
    # mmcv calls nn.MultiheadAttention with need_weights=True, i.e. torch's explicit
    # bmm-softmax path, which our explicit softmax reproduces bit for bit.
    'mmseg-vit': Case('mmcv MultiheadAttention', 'mmseg',
                      dict(type='VisionTransformer', img_size=(IMG, IMG), patch_size=8, embed_dims=32,
                           num_layers=2, num_heads=2, mlp_ratio=2, out_indices=(1,), final_norm=True,
                           output_cls_token=True), _map_mmcv, bitwise=True),
    # timm's fused SDPA off while maps are read: rounding only.
    'timm-vit': Case('timm Attention', 'mmpretrain',
                     dict(type='TIMMBackbone', model_name='vit_tiny_patch16_224', img_size=IMG,
                          patch_size=8, embed_dim=32, depth=2, num_heads=2), _map_timm),
    # One class token and two register tokens: C = 3, so CPDO acts too.
    'timm-vit-reg': Case('timm Attention', 'mmpretrain',
                         dict(type='TIMMBackbone', model_name='vit_tiny_patch16_224', img_size=IMG,
                              patch_size=8, embed_dim=32, depth=2, num_heads=2, reg_tokens=2),
                         _map_timm, num_cls=3),
    # BEiT and EVA-02 compute their attention explicitly upstream: bit for bit.
    'beit': Case('mmpretrain BEiTAttention', 'mmpretrain',
                 dict(type='BEiTViT', arch=TINY, img_size=IMG, patch_size=8, out_type='raw'),
                 _map_beit, bitwise=True, perturb=_perturb_beit),
    'beit-shared-bias': Case('mmpretrain BEiTAttention', 'mmpretrain',
                             dict(type='BEiTViT', arch=TINY, img_size=IMG, patch_size=8, out_type='raw',
                                  use_rel_pos_bias=False, use_shared_rel_pos_bias=True),
                             _map_beit, bitwise=True, perturb=_perturb_beit),
    'eva02': Case('mmpretrain AttentionWithRoPE', 'mmpretrain',
                  dict(type='ViTEVA02', arch=TINY, img_size=IMG, patch_size=8, out_type='raw'),
                  _map_eva02, bitwise=True),
}


def _build(case: Case) -> nn.Module:
    torch.manual_seed(0)
    # The scope explicitly: a Runner built by an earlier test may have left another current.
    registry = {'mmpretrain': PRETRAIN_MODELS, 'mmseg': SEG_MODELS}[case.scope]
    with DefaultScope.overwrite_default_scope(case.scope):
        model = registry.build(case.cfg)
    model.init_weights()
    if case.perturb is not None:
        case.perturb(model)
    model.eval()  # not chained: mmpretrain's VisionTransformer.train returns None
    return model


def _images(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, IMG, IMG, generator=torch.Generator().manual_seed(2))


def _flat(out) -> torch.Tensor:
    """Every tensor a backbone returns (tuples, lists, mmseg's [featmap, cls]) as one vector."""
    if torch.is_tensor(out):
        return out.flatten()
    return torch.cat([_flat(o) for o in out])


def _run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return _flat(model(x))


ZERO = dict(af_p2c=0., sf_p2c=0., af_c2c=0., sf_c2c=0.)


@pytest.mark.parametrize('name', list(CASES))
def test_zero_factors_equal_stock_and_defaults_change_it(name):
    case = CASES[name]
    base = _build(case)
    x = _images()
    y_stock = _run(base, x)

    zero = copy.deepcopy(base)
    handle = attach_doei(zero, **ZERO)
    assert handle.family.name == case.family and handle.num_cls == case.num_cls
    assert handle.depth == 2 and handle.uses_hfa
    y_zero = _run(zero, x)
    if case.bitwise:
        assert torch.equal(y_zero, y_stock)
    else:
        torch.testing.assert_close(y_zero, y_stock, atol=1e-5, rtol=1e-5)

    defaults = copy.deepcopy(base)
    attach_doei(defaults)
    assert (_run(defaults, x) - y_stock).abs().max() > 1e-3


@pytest.mark.parametrize('name', list(CASES))
def test_parameters_and_state_dict_keys_unchanged(name):
    case = CASES[name]
    model = _build(case)
    keys = list(model.state_dict())
    params = list(model.parameters())
    buffers = list(model.buffers())
    handle = attach_doei(model)
    assert list(model.state_dict()) == keys
    assert len(list(model.parameters())) == len(params)
    assert all(a is b for a, b in zip(params, model.parameters()))
    assert all(a is b for a, b in zip(buffers, model.buffers()))
    assert all(isinstance(b.attn, handle.family.adapter) for b in handle.blocks)
    # A checkpoint of the stock model loads strictly into the DOEI one.
    model.load_state_dict(_build(case).state_dict(), strict=True)


@pytest.mark.parametrize('name', list(CASES))
def test_one_step_is_the_functional_operator_on_the_familys_own_map(name):
    case = CASES[name]
    model = _build(case)
    cfg = dict(layers=1, st_p2c=.05, af_p2c=1., sf_p2c=-.5, st_c2c=.5, af_c2c=.7, sf_c2c=-.3, alpha=.35)
    handle = attach_doei(model, **cfg)
    block, nxt = handle.blocks[0], handle.blocks[1]
    rec = {}
    block.attn.register_forward_pre_hook(
        lambda m, args, kwargs: rec.update(args=args, kwargs=kwargs), with_kwargs=True)
    # prepend: runs before DOEI's hook, so it sees the block's own output.
    block.register_forward_hook(lambda m, args, out: rec.update(raw=out), prepend=True)
    nxt.register_forward_pre_hook(lambda m, args: rec.update(doei=args[0]))
    find_patch_embed(model).register_forward_hook(lambda m, args, out: rec.update(embed=out))
    x = _images()
    with torch.no_grad():
        model(x)
        A = case.hand_map(block.attn, rec['args'], rec['kwargs'])
    T = A.shape[-1]
    assert A.shape == (2, T, T) and T == case.num_cls + (IMG // 8)**2
    torch.testing.assert_close(block.attn.attn_map, A, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(A.sum(-1), torch.ones(2, T))
    # Patch tokens out of the embedding: (tokens, (h, w)) from mmcv-style PatchEmbed, (B, N, D) from timm's.
    embed = rec['embed']
    tokens = embed[0] if isinstance(embed, tuple) else embed
    H = hfa_affinity(x, tokens, (IMG // 8, IMG // 8))
    kwargs = {k: v for k, v in cfg.items() if k != 'layers'}
    expected = doei_update(rec['raw'], A, case.num_cls, 1, 2, hfa=H, **kwargs)
    assert not torch.allclose(expected, rec['raw'], atol=1e-4)
    torch.testing.assert_close(rec['doei'], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', ['mmseg-vit', 'timm-vit', 'beit', 'eva02'])
def test_maps_only_where_asked_and_gradients_flow(name):
    """Blocks beyond K keep the upstream path (no map); training passes gradients to all weights."""
    case = CASES[name]
    model = _build(case)
    handle = attach_doei(model, layers=1, st_p2c=.05)
    assert [b.attn.need_attn for b in handle.blocks] == [True, False]
    model.train()
    _flat(model(_images())).sum().backward()
    assert handle.blocks[0].attn.attn_map is not None and handle.blocks[1].attn.attn_map is None
    assert all(p.grad is not None for p in handle.blocks[0].parameters() if p.requires_grad)


def test_timm_fused_kernel_kept_when_no_map_is_asked_for():
    model = _build(CASES['timm-vit'])
    attn = adapt_attention(model.timm_model.blocks[0].attn)
    fused = attn.fused_attn
    attn.need_attn = True
    attn(torch.randn(1, 5, 32))
    assert attn.fused_attn == fused and attn.attn_map.shape == (1, 5, 5)


def test_each_adapter_registered_beside_doei_attention():
    from mmengine.registry import MODELS
    assert MODELS.get('DOEIAttention') is DOEIAttention
    for family in FAMILIES:
        assert MODELS.get(family.adapter.__name__) is family.adapter
    attn = MODELS.build(dict(type='DOEITimmAttention', dim=16, num_heads=2, need_attn=True))
    assert attn.need_attn and attention_family(attn).name == 'timm Attention'
    attn = MODELS.build(dict(type='DOEIMMCVAttention', embed_dims=16, num_heads=2, batch_first=True))
    assert not attn.need_attn and attention_family(attn).name == 'mmcv MultiheadAttention'


def test_adapter_leaves_the_wrapped_layer_alone():
    model = _build(CASES['beit'])
    stock = model.layers[0].attn
    drop = stock.attn_drop
    adapter = adapt_attention(stock)
    assert stock.attn_drop is drop and type(drop) is nn.Dropout
    assert adapter.qkv is stock.qkv and adapter.attn_drop is not drop
    assert adapt_attention(adapter) is adapter


FAMILY_NAMES = ['mmpretrain MultiheadAttention', 'mmcv MultiheadAttention', 'timm Attention',
                'mmpretrain BEiTAttention', 'mmpretrain AttentionWithRoPE']


def test_unsupported_attention_lists_the_supported_families():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        swin = PRETRAIN_MODELS.build(dict(type='SwinTransformer', img_size=32, window_size=4, out_indices=(1,),
                                          arch=dict(embed_dims=16, depths=[1, 1], num_heads=[1, 2])))
    with pytest.raises(ValueError) as err:
        attach_doei(swin)
    msg = str(err.value)
    assert msg.startswith('DOEI: SwinTransformer has attention DOEI cannot read the map of: '
                          'stages.0.blocks.0.attn (mmpretrain.models.utils.attention.ShiftWindowMSA)')
    assert 'Supported attention families:\n  - mmpretrain MultiheadAttention (mmpretrain ViT' in msg
    assert [line.split(' (')[0][4:] for line in msg.splitlines()[1:]] == FAMILY_NAMES


def test_subclass_overriding_forward_is_refused():
    """A subclass with its own forward might compute another map: not read."""
    from mmdoei.doei.adapters import TimmAttention

    class TalkingHeads(TimmAttention):
        def forward(self, x, *args, **kwargs):
            return super().forward(x)

    class KeepsForward(TimmAttention):
        pass

    assert attention_family(KeepsForward(16, 2)).name == 'timm Attention'
    with pytest.raises(TypeError, match=r'DOEI cannot read the attention map of .*TalkingHeads; '
                                        r'supported attention families:\n  - mmpretrain Multihead'):
        adapt_attention(TalkingHeads(16, 2))
    block = nn.Module()
    block.attn = TalkingHeads(16, 2)
    with pytest.raises(ValueError, match=r'attn \(.*TalkingHeads\)\. Supported attention families'):
        attach_doei(nn.Sequential(block))


def test_no_blocks_lists_the_supported_families():
    with pytest.raises(ValueError, match=r'Linear has no transformer blocks .*supported families:\n'
                                         r'  - mmpretrain MultiheadAttention'):
        attach_doei(nn.Linear(2, 2))


def test_mmcv_attention_refuses_cross_attention_maps():
    with DefaultScope.overwrite_default_scope('mmseg'):
        stock = SEG_MODELS.build(dict(type='MultiheadAttention', embed_dims=16, num_heads=2, batch_first=True))
    attn = adapt_attention(stock)
    q, kv = torch.randn(1, 3, 16), torch.randn(1, 4, 16)
    attn(q, kv, kv)  # no map asked for: the stock path
    attn.need_attn = True
    with pytest.raises(NotImplementedError, match='reads self-attention maps only'):
        attn(q, kv, kv)
