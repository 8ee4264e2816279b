"""TransCAM: the authors' numbers, Conformer checkpoints, DOEI on Conformer's blocks."""
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
import mmdoei.models.backbones.conformer  # noqa: F401
import mmdoei.models.classifiers.transcam  # noqa: F401
import mmdoei.models.heads.transcam_head  # noqa: F401
from mmdoei.doei import attach_doei, find_transformer_blocks
from mmdoei.doei.attach import find_patch_embed
from mmdoei.models.classifiers.transcam import TRANSCAM_CAM_TYPES, TransCAM
from mmdoei.models.utils.checkpoint import convert_transcam
from .tiny import TRANSCAM_TINY as TINY
from .tiny import one_thread  # noqa: F401  (autouse)

ROOT = Path(__file__).resolve().parents[2]
REF_PATH = ROOT / 'tests/data/reference/transcam_authors_outputs.npz'


def build_tiny(backbone=None, **kw) -> TransCAM:
    """A 6-block Conformer (64 dims, CNN 16/32/64 channels) TransCAM, 20 classes."""
    return MODELS.build(dict(type='TransCAM', num_classes=20, backbone={**TINY, **(backbone or {})}, **kw))


def deterministic_state() -> dict:
    """The recipe the reference numbers were measured with (README there), keys in
    sorted order from one generator: weights of rank >= 2 N(0, 1/fan_in) (so that
    activations keep their scale through ~20 conv layers), other tensors N(0, 0.1^2),
    norm weights 1 + that, BatchNorm running variances 1 + |that|."""
    state = build_tiny().state_dict()
    g = torch.Generator().manual_seed(2024)
    out = {}
    for k in sorted(state):
        if k.endswith('num_batches_tracked'):
            out[k] = state[k]
            continue
        shape = state[k].shape
        v = torch.randn(shape, generator=g)
        leaf, name = k.split('.')[-2], k.split('.')[-1]
        if len(shape) >= 2 and name == 'weight':
            v = v / shape[1:].numel() ** 0.5
        else:
            v = v * 0.1
        if name == 'running_var':
            v = 1 + v.abs()
        elif name == 'weight' and (leaf.startswith(('ln', 'bn', 'residual_bn')) or leaf == 'trans_norm'):
            v = v + 1
        out[k] = v
    return {k: out[k] for k in state}


def reference_input() -> torch.Tensor:
    """Two 96 x 96 images: a square 6 x 6 token grid (the authors reshape to a square)."""
    return torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(123))


def _loaded(**kw) -> TransCAM:
    model = build_tiny(**kw)
    model.load_state_dict(deterministic_state())
    return model.eval()


@pytest.mark.slow
def test_logits_and_cams_equal_the_authors():
    ref = np.load(REF_PATH, allow_pickle=False)
    model = _loaded()
    x = reference_input()
    with torch.no_grad():
        conv_logits, trans_logits = model(x)
    np.testing.assert_allclose(conv_logits.numpy(), ref['conv_logits'], atol=1e-5, rtol=0)
    np.testing.assert_allclose(trans_logits.numpy(), ref['trans_logits'], atol=1e-5, rtol=0)
    for t in TRANSCAM_CAM_TYPES:
        with torch.no_grad():
            raw = model.cams(x, type=t, relu=False)
            cams = model.cams(x, type=t)
        np.testing.assert_allclose(raw.numpy(), ref[t], atol=1e-5, rtol=1e-5, err_msg=t)
        np.testing.assert_allclose(cams.numpy(), np.maximum(ref[t], 0), atol=1e-5, rtol=1e-5, err_msg=t)
        assert (ref[t] < 0).any(), t
    assert cams.shape == (2, 20, 6, 6)
    # the authors' loss: MLSM of (conv + trans)[:, 1:] with their 21 outputs
    samples = [DataSample().set_gt_label([1, 3]), DataSample().set_gt_label([0])]
    loss = model(x, samples, mode='loss')['loss_cls']
    np.testing.assert_allclose(loss.item(), ref['loss'], atol=1e-6, rtol=1e-6)
    preds = model(x, samples, mode='predict')
    torch.testing.assert_close(preds[0].pred_score, torch.sigmoid(conv_logits[0] + trans_logits[0]))


def test_non_square_inputs_and_default_cam_type():
    model = _loaded()
    with torch.no_grad():
        cams = model.predict_cams(torch.randn(1, 3, 80, 48))
    assert cams.shape == (1, 20, 5, 3) and (cams >= 0).all()
    assert model.cam_cfg == dict(type='transcam', relu=True)


@pytest.mark.slow
def test_doei_finds_conformer_blocks_and_patch_embedding():
    full = MODELS.build(dict(type='TransCAMConformer', arch='small'))  # Conformer-S
    blocks = find_transformer_blocks(full)
    assert len(blocks) == 12 and blocks == full.transformer_blocks  # in forward order
    assert find_patch_embed(full) is full.trans_patch_conv
    assert full.cnn_channels == 1024 and full.embed_dims == 384
    handle = attach_doei(full)
    assert handle.num_cls == 1 and handle.depth == 12 and handle.num_layers == 12
    full.eval()
    with torch.no_grad():
        full(torch.randn(1, 3, 64, 80))
    # HFA was built from the image and trans_patch_conv's tokens on the 4 x 5 token grid
    assert full.last_grid == (4, 5) and handle.hfa().shape == (1, 20, 20)


@pytest.mark.slow
def test_doei_by_config_changes_training_and_cams():
    base = _loaded()
    base.train()
    doei = build_tiny(doei=dict(st_p2c=.05, af_p2c=1., sf_p2c=-.5))
    doei.load_state_dict(base.state_dict())
    assert list(doei.state_dict()) == list(base.state_dict())
    assert doei.backbone.doei.num_cls == 1 and doei.backbone.doei.depth == 6
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label([1, 3]), DataSample().set_gt_label([0])]
    torch.manual_seed(0)
    l_base = base(x, samples, mode='loss')
    torch.manual_seed(0)
    l_doei = doei(x, samples, mode='loss')
    assert not torch.allclose(l_base['loss_cls'], l_doei['loss_cls'])
    base.eval()
    doei.eval()
    assert not torch.allclose(base.predict_cams(x), doei.predict_cams(x))
    zero = build_tiny(doei=dict(af_p2c=0., sf_p2c=0.)).eval()
    zero.load_state_dict(base.state_dict())
    torch.testing.assert_close(zero.predict_cams(x), base.predict_cams(x), atol=1e-5, rtol=1e-5)


def _original_conformer_state(num_classes=1000, transcam=False):
    """Our tiny model's tensors under the original Conformer names (the Conformer
    release and TransCAM checkpoints): timm block names, heads of the original
    Conformer (two Linear layers) or of TransCAM (3x3 conv + linear, 21 outputs)."""
    model = build_tiny()
    model.init_weights()
    state = {}
    for k, v in model.backbone.state_dict().items():
        for a, b in (('.ln1.', '.norm1.'), ('.ln2.', '.norm2.'), ('.ffn.layers.0.0.', '.mlp.fc1.'),
                     ('.ffn.layers.1.', '.mlp.fc2.')):
            if k.startswith(('trans_1.', 'conv_trans_')) and a in k:
                k = k.replace(a, b)
        state[k] = v.clone()
    if transcam:
        state['conv_cls_head.weight'] = torch.randn(num_classes, 64, 3, 3)
        state['trans_cls_head.weight'] = torch.randn(num_classes, 64)
    else:
        state['conv_cls_head.weight'] = torch.randn(num_classes, 64)
        state['trans_cls_head.weight'] = torch.randn(num_classes, 64)
    state['conv_cls_head.bias'] = torch.randn(num_classes)
    state['trans_cls_head.bias'] = torch.randn(num_classes)
    return state


def test_init_from_conformer_release(tmp_path):
    # Conformer_small_patch16.pth as the Conformer repository's main.py saves it.
    state = _original_conformer_state()
    path = tmp_path / 'Conformer_small_patch16.pth'
    torch.save({'model': state}, path)
    model = build_tiny()
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model.init_weights()
    report = model.backbone.pretrained_report
    assert report['missing'] == []
    assert sorted(report['unexpected']) == ['conv_cls_head.bias', 'conv_cls_head.weight',
                                            'trans_cls_head.bias', 'trans_cls_head.weight']
    bb = model.backbone
    torch.testing.assert_close(bb.trans_1.ln1.weight, state['trans_1.norm1.weight'])
    torch.testing.assert_close(bb.conv_trans_4.trans_block.ffn.layers[0][0].weight,
                               state['conv_trans_4.trans_block.mlp.fc1.weight'])
    torch.testing.assert_close(bb.conv_trans_6.fusion_block.residual_bn.running_var,
                               state['conv_trans_6.fusion_block.residual_bn.running_var'])


def test_init_from_mmpretrain_conformer_checkpoint(tmp_path):
    clf = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='Conformer', arch=TINY['arch']),
        head=dict(type='ConformerHead', num_classes=1000, in_channels=[64, 64])))
    path = tmp_path / 'conformer-small-p16_3rdparty_8xb128_in1k_20211206-3065dcf5.pth'
    torch.save({'state_dict': clf.state_dict(), 'meta': {}}, path)
    model = build_tiny()
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model.init_weights()
    assert model.backbone.pretrained_report == dict(missing=[], unexpected=[])
    torch.testing.assert_close(model.backbone.conv_trans_3.trans_block.attn.qkv.weight,
                               clf.backbone.conv_trans_3.trans_block.attn.qkv.weight)


@pytest.mark.slow
def test_converter_round_trip_of_the_authors_checkpoint_format(tmp_path):
    # TransCAM saves model.module.state_dict(): bare, original names, 21 outputs.
    state = _original_conformer_state(num_classes=21, transcam=True)
    src, dst = tmp_path / 'TransCAM.pth', tmp_path / 'converted.pth'
    torch.save(state, src)
    out = subprocess.run([sys.executable, str(ROOT / 'tools/model_converters/transcam2mmdoei.py'),
                          str(src), str(dst)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'TransCAM, 20 classes (1 background output(s) dropped)' in out.stdout
    model = build_tiny()
    converted = torch.load(dst, weights_only=True)['state_dict']
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(model.head.conv_cls_head.weight, state['conv_cls_head.weight'][1:])
    torch.testing.assert_close(model.head.trans_cls_head.bias, state['trans_cls_head.bias'][1:])
    torch.testing.assert_close(model.backbone.conv_trans_2.trans_block.ln2.bias,
                               state['conv_trans_2.trans_block.norm2.bias'])
    assert len(converted) == len(state)
    assert sorted(convert_transcam({k: torch.zeros(21) for k in state})) == sorted(model.state_dict())


def test_bad_options():
    with pytest.raises(KeyError, match=r"TransCAM.cams: unknown option\(s\) \['last_n'\]"):
        build_tiny(cam_cfg=dict(last_n=3))
    with pytest.raises(ValueError, match='cam_cfg.type must be one of'):
        build_tiny(cam_cfg=dict(type='fused'))
    model = build_tiny()
    with pytest.raises(ValueError, match='CAM type must be one of'):
        model.cams(torch.randn(1, 3, 64, 64), type='gradcam')
    # With the original Conformer's stride-2 last fusion, the CNN map is not on the token grid.
    stride2 = build_tiny(backbone=dict(last_fusion_stride=2)).eval()
    with pytest.raises(ValueError, match='not on the token grid'):
        stride2.cams(torch.randn(1, 3, 64, 64))
