"""TS-CAM: the authors' numbers, checkpoint formats, DOEI by config."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmdoei  # noqa: F401
# Registered by mmdoei.models once its __init__ files list them; imported here so the
# tests do not depend on that.
import mmdoei.models.classifiers.tscam  # noqa: F401
import mmdoei.models.heads.tscam_head  # noqa: F401
from mmdoei.models.classifiers.tscam import TSCAM
from mmdoei.models.utils.checkpoint import convert_tscam
from .tiny import TSCAM_TINY as TINY
from .tiny import one_thread  # noqa: F401  (autouse)

ROOT = Path(__file__).resolve().parents[2]
REF_PATH = ROOT / 'tests/data/reference/tscam_authors_outputs.npz'


def build_tiny(backbone=None, **kw) -> TSCAM:
    """A 3-block, 64-wide TS-CAM for 64 x 64 inputs, 20 classes."""
    return MODELS.build(dict(type='TSCAM', num_classes=20, backbone={**TINY, **(backbone or {})}, **kw))


def deterministic_state() -> dict:
    """Every tensor drawn from N(0, 0.1^2) (LayerNorm weights 1 + that), keys in
    sorted order; the recipe the reference numbers were measured with (README there)."""
    state = build_tiny().state_dict()
    g = torch.Generator().manual_seed(2024)
    out = {}
    for k in sorted(state):
        v = torch.randn(state[k].shape, generator=g) * 0.1
        if k.split('.')[-2].startswith('ln') and k.endswith('weight'):
            v = v + 1
        out[k] = v
    return {k: out[k] for k in state}


def reference_input() -> torch.Tensor:
    """Two 64 x 64 images (the authors' model accepts img_size inputs only)."""
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(123))


def _loaded(**kw) -> TSCAM:
    model = build_tiny(**kw)
    model.load_state_dict(deterministic_state())
    return model.eval()


def test_logits_and_cams_equal_the_authors():
    ref = np.load(REF_PATH, allow_pickle=False)
    model = _loaded()
    x = reference_input()
    with torch.no_grad():
        (logits, ) = model(x)
        raw = model.cams(x, relu=False)
        cams = model.cams(x)
    np.testing.assert_allclose(logits.numpy(), ref['logits'], atol=1e-5, rtol=0)
    np.testing.assert_allclose(raw.numpy(), ref['cams'], atol=1e-5, rtol=1e-5)
    # The default (relu) is the authors' map clamped at zero, i.e. attention x ReLU(conv map).
    np.testing.assert_allclose(cams.numpy(), np.maximum(ref['cams'], 0), atol=1e-5, rtol=1e-5)
    assert (ref['cams'] < 0).any()  # so the relu option is actually exercised
    assert cams.shape == (2, 20, 4, 4) and (cams >= 0).all()


def test_cams_at_other_sizes_follow_the_patch_grid():
    model = _loaded()
    with torch.no_grad():
        cams = model.predict_cams(torch.randn(1, 3, 80, 48))
    assert cams.shape == (1, 20, 5, 3) and (cams >= 0).all()


def _timm_state(num_classes=1000, conv_head=False):
    """A state dict in facebook DeiT / TS-CAM key layout, tiny dims."""
    from timm.models.vision_transformer import VisionTransformer
    vit = VisionTransformer(img_size=64, patch_size=16, embed_dim=64, depth=3, num_heads=2,
                            mlp_ratio=4, qkv_bias=True, num_classes=num_classes)
    state = vit.state_dict()
    if conv_head:
        state['head.weight'] = torch.randn(num_classes, 64, 3, 3)
        state['head.bias'] = torch.randn(num_classes)
    return state


def test_init_from_facebook_deit_checkpoint(tmp_path):
    state = _timm_state()
    path = tmp_path / 'deit_small_patch16_224-cd65a155.pth'
    torch.save({'model': state}, path)
    model = build_tiny()
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model.init_weights()
    report = model.backbone.pretrained_report
    # TS-CAM applies the final norm, so DeiT's norm.* is loaded (as ln1), unlike MCTformer.
    assert report['missing'] == [] and sorted(report['unexpected']) == ['head.bias', 'head.weight']
    assert report['adapted'] == []
    bb = model.backbone
    torch.testing.assert_close(bb.ln1.weight, state['norm.weight'])
    torch.testing.assert_close(bb.cls_token, state['cls_token'])
    torch.testing.assert_close(bb.pos_embed, state['pos_embed'])
    torch.testing.assert_close(bb.layers[1].attn.qkv.weight, state['blocks.1.attn.qkv.weight'])


@pytest.mark.slow
def test_converter_round_trip_of_the_authors_checkpoint_format(tmp_path):
    # TS-CAM saves {'epoch', 'state_dict', 'best_map'} of a DataParallel model: keys start
    # with `module.`, the conv head is `head.weight (K, D, 3, 3)`.
    state = _timm_state(num_classes=20, conv_head=True)
    src, dst = tmp_path / 'model_best.pth', tmp_path / 'converted.pth'
    torch.save({'epoch': 60, 'state_dict': {'module.' + k: v for k, v in state.items()},
                'best_map': 87.7}, src)
    out = subprocess.run([sys.executable, str(ROOT / 'tools/model_converters/tscam2mmdoei.py'),
                          str(src), str(dst)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'TS-CAM, 20 classes' in out.stdout
    model = build_tiny()
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    torch.testing.assert_close(model.head.conv.weight, state['head.weight'])
    torch.testing.assert_close(model.backbone.ln1.bias, state['norm.bias'])
    torch.testing.assert_close(model.backbone.layers[2].ffn.layers[1].weight,
                               state['blocks.2.mlp.fc2.weight'])
    assert len(model.state_dict()) == len(state)  # nothing dropped, nothing invented


def test_converter_names_are_inverse_of_ours():
    ours = deterministic_state()
    # our key -> their key, by converting each of their names
    theirs_keys = list(_timm_state(num_classes=20, conv_head=True))
    back = convert_tscam({k: torch.zeros(1) for k in theirs_keys})
    assert sorted(back) == sorted(ours)


def test_doei_by_config_changes_training_and_cams():
    base = _loaded()
    base.train()
    doei = build_tiny(doei=dict(st_p2c=.05, af_p2c=1., sf_p2c=-.5))
    doei.load_state_dict(base.state_dict())
    assert list(doei.state_dict()) == list(base.state_dict())
    assert doei.backbone.doei.num_cls == 1  # one class token: PPDO only
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label([1, 3]), DataSample().set_gt_label([0])]
    l_base, l_doei = base(x, samples, mode='loss'), doei(x, samples, mode='loss')
    assert set(l_base) == {'loss_cls'}
    assert not torch.allclose(l_base['loss_cls'], l_doei['loss_cls'])
    base.eval()
    doei.eval()
    assert not torch.allclose(base.predict_cams(x), doei.predict_cams(x))
    zero = build_tiny(doei=dict(af_p2c=0., sf_p2c=0.)).eval()
    zero.load_state_dict(base.state_dict())
    torch.testing.assert_close(zero.predict_cams(x), base.predict_cams(x), atol=1e-5, rtol=1e-5)


def test_loss_and_predict():
    model = _loaded()
    x = reference_input()
    samples = [DataSample().set_gt_label([1, 3]), DataSample().set_gt_label([0])]
    (logits, ) = model(x)
    target = torch.zeros(2, 20)
    target[0, [1, 3]] = 1
    target[1, 0] = 1
    loss = model(x, samples, mode='loss')['loss_cls']
    torch.testing.assert_close(loss, torch.nn.functional.multilabel_soft_margin_loss(logits, target))
    preds = model(x, samples, mode='predict')
    torch.testing.assert_close(preds[1].pred_score, torch.sigmoid(logits[1]))
    # The authors' single-label loss (CUB / ImageNet).
    ce = build_tiny(head=dict(loss='cross_entropy'))
    ce.load_state_dict(model.state_dict())
    single = [DataSample().set_gt_label(4), DataSample().set_gt_label(7)]
    torch.testing.assert_close(ce(x, single, mode='loss')['loss_cls'],
                               torch.nn.functional.cross_entropy(logits, torch.tensor([4, 7])))


def test_bad_options():
    with pytest.raises(KeyError, match=r"TSCAM.cams: unknown option\(s\) \['type'\]"):
        build_tiny(cam_cfg=dict(type='fused'))
    with pytest.raises(ValueError, match='exactly one class token'):
        build_tiny(backbone=dict(num_class_tokens=2))
    with pytest.raises(ValueError, match='loss must be one of'):
        build_tiny(head=dict(loss='focal'))
