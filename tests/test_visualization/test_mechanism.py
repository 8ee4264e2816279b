"""The mechanism view marks exactly the tokens DOEI's functional code selects."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmdoei.analysis.mechanism import mechanism_view, record_mechanism, render_mechanism, write_mechanism
from mmdoei.doei import attach_doei, doei_scores, hfa_affinity, hfa_blend, num_confident, topk_mask

TINY_VIT = dict(type='DistilledVisionTransformer', img_size=32, patch_size=8,
                arch=dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64))


class Wrapper(torch.nn.Module):
    """A classifier-like model: DOEI attaches to its ``backbone`` (DeiT: class and distillation tokens, C=2)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    backbone = MODELS.build(TINY_VIT)
    backbone.init_weights()
    backbone.eval()
    attach_doei(backbone, layers=3, st_p2c=0.05, st_c2c=0.3, alpha=0.5)
    return Wrapper(backbone)


def independent_selection(model, x):
    """Attention maps and HFA captured by hooks of the test's own, then the functional code."""
    bb = model.backbone
    blocks = bb._doei_handle.blocks
    attns, embed = {}, {}
    hooks = [b.register_forward_hook(lambda m, a, o, i=i: attns.__setitem__(i, m.attn.attn_map.detach()))
             for i, b in enumerate(blocks[:3], start=1)]
    hooks.append(bb.patch_embed.register_forward_hook(lambda m, a, o: embed.update(tokens=o[0], grid=o[1])))
    with torch.no_grad():
        bb(x)
    for h in hooks:
        h.remove()
    H = hfa_affinity(x, embed['tokens'], tuple(embed['grid']))
    out = {}
    for i in (1, 2, 3):
        P, S = doei_scores(attns[i], 2)
        n = P.shape[-1]
        out[i] = dict(mask_p=topk_mask(hfa_blend(P, H, 0.5), num_confident(i, 4, n, 0.05)),
                      mask_c=topk_mask(S, num_confident(i, 4, 2, 0.3)))
    return out


def test_marked_tokens_are_those_functional_selects(model, tmp_path):
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    records = record_mechanism(model, x)
    assert [r['block'] for r in records] == [1, 2, 3]  # layers=3 of 4 blocks act
    assert model.backbone._doei_handle.recording is None  # the recording is switched off again
    ref = independent_selection(model, x)
    for token in (0, 1):
        view = mechanism_view(records, token)
        for v in view:
            want = ref[v['block']]['mask_p'][0, token].numpy()
            assert v['amplified'] == np.flatnonzero(want).tolist()
            assert v['suppressed'] == np.flatnonzero(~want).tolist()
            assert len(v['amplified']) == v['k_p'] == num_confident(v['block'], 4, 16, 0.05)
            wc = ref[v['block']]['mask_c'][0, token].numpy()
            assert v['cpdo_amplified'] == np.flatnonzero(wc).tolist()
            assert v['grid'] == [4, 4] and v['hfa_scores'].shape == (4, 4)
    # k_p = round(16 * (4 - i) * 0.05): 2, 2, 1 patches amplified in blocks 1..3
    assert [v['k_p'] for v in mechanism_view(records, 0)] == [2, 2, 1]
    rgb = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    files = write_mechanism(tmp_path, mechanism_view(records, 1), rgb, 'cat')
    import cv2
    png = cv2.imread(str(files['png']))
    # 3 blocks x (tokens, HFA scores, attention) tiles, enlarged to 160 px: 3 columns
    assert png.shape[1] == 3 * 160 and png.shape[0] > 3 * 160
    assert render_mechanism(mechanism_view(records, 1), rgb, 'cat').shape == png.shape


def test_model_without_doei_is_named():
    torch.manual_seed(0)
    bb = MODELS.build(TINY_VIT)
    with pytest.raises(ValueError, match='Wrapper has no DOEI attached'):
        record_mechanism(Wrapper(bb), torch.zeros(1, 3, 32, 32))
