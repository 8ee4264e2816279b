"""MCTformer V1/V2: the authors' numbers, checkpoint formats, DOEI by config."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from mmdoei.models import MCTformerV2
from .mct_weights import TINY, build_tiny, deterministic_state

ROOT = Path(__file__).resolve().parents[2]
REF = np.load(ROOT / 'tests/data/reference/mctformer_authors_outputs.npz', allow_pickle=False)


def _input():
    return torch.randn(1, 3, 80, 48, generator=torch.Generator().manual_seed(123))


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_logits_and_cams_equal_the_authors(version):
    model = build_tiny(version)
    model.load_state_dict(deterministic_state(version))
    model.eval()
    x = _input()
    with torch.no_grad():
        logits = model(x)
    for i, l in enumerate(logits):
        np.testing.assert_allclose(l.numpy(), REF[f'{version}_logits{i}'], atol=1e-5, rtol=0)
    types = ['mct'] if version == 'v1' else ['fused', 'patchcam', 'mct']
    for t in types:
        kw = {} if version == 'v1' else dict(type=t)
        with torch.no_grad():
            a = model.cams(x, last_n=2, refine=True, **kw)
            b = model.cams(x, last_n=3, refine=False, **kw)
        np.testing.assert_allclose(a.numpy(), REF[f'{version}_{t}_last2_refine'], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(b.numpy(), REF[f'{version}_{t}_last3'], atol=1e-5, rtol=1e-5)


def _timm_vit_state(num_cls_tokens=1, conv_head=None):
    """A state dict in the facebook DeiT / timm key layout, tiny dims."""
    from timm.models.vision_transformer import VisionTransformer
    vit = VisionTransformer(img_size=64, patch_size=16, embed_dim=64, depth=3, num_heads=2,
                            mlp_ratio=4, qkv_bias=True, num_classes=1000)
    state = vit.state_dict()
    if num_cls_tokens > 1:  # the authors' released MCTformer layout
        D = state['cls_token'].shape[-1]
        state['cls_token'] = torch.randn(1, num_cls_tokens, D)
        state['pos_embed'] = torch.randn(1, num_cls_tokens + 16, D)
        state['head.weight'] = torch.randn(num_cls_tokens, D, 3, 3) if conv_head else \
            torch.randn(num_cls_tokens, D)
        state['head.bias'] = torch.randn(num_cls_tokens)
    return state


def test_init_from_facebook_deit_checkpoint(tmp_path):
    state = _timm_vit_state()
    path = tmp_path / 'deit_small_patch16_224-cd65a155.pth'
    torch.save({'model': state}, path)
    model = build_tiny('v2', init_cfg=None)
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model.init_weights()
    report = model.backbone.pretrained_report
    assert report['missing'] == []
    assert sorted(report['unexpected']) == ['head.bias', 'head.weight', 'ln1.bias', 'ln1.weight']
    assert report['adapted'] == ['cls_token', 'pos_embed']
    bb = model.backbone
    torch.testing.assert_close(bb.patch_embed.projection.weight, state['patch_embed.proj.weight'])
    torch.testing.assert_close(bb.layers[2].ffn.layers[1].weight, state['blocks.2.mlp.fc2.weight'])
    # As the authors fine-tune: the class token and its position embedding repeated 20 times.
    torch.testing.assert_close(bb.cls_token, state['cls_token'].repeat(1, 20, 1))
    torch.testing.assert_close(bb.pos_embed[:, :20], state['pos_embed'][:, :1].repeat(1, 20, 1))
    torch.testing.assert_close(bb.pos_embed[:, 20:], state['pos_embed'][:, 1:])


def test_init_from_mmpretrain_deit_checkpoint(tmp_path):
    from mmpretrain.registry import MODELS
    clf = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', **TINY),
        head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=64)))
    path = tmp_path / 'deit-small_pt-4xb256_in1k.pth'
    torch.save({'state_dict': clf.state_dict(), 'meta': {}}, path)
    model = build_tiny('v1')
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model.init_weights()
    report = model.backbone.pretrained_report
    assert report['missing'] == [] and sorted(report['unexpected']) == ['ln1.bias', 'ln1.weight']
    torch.testing.assert_close(model.backbone.layers[0].attn.qkv.weight,
                               clf.backbone.layers[0].attn.qkv.weight)


@pytest.mark.slow
@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_converter_loads_released_checkpoint_format(tmp_path, version):
    state = _timm_vit_state(num_cls_tokens=20, conv_head=version == 'v2')
    src, dst = tmp_path / f'MCTformer_{version}.pth', tmp_path / 'converted.pth'
    torch.save({'model': state}, src)
    out = subprocess.run([sys.executable, str(ROOT / 'tools/model_converters/mctformer2mmdoei.py'),
                          str(src), str(dst)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f'MCTformer-{version.upper()}, 20 classes' in out.stdout
    model = build_tiny(version)
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    torch.testing.assert_close(model.backbone.cls_token, state['cls_token'])
    if version == 'v2':
        torch.testing.assert_close(model.head.conv.weight, state['head.weight'])


def test_doei_by_config_changes_training_and_cams():
    torch.manual_seed(0)
    base = build_tiny('v2')
    base.init_weights()
    doei = build_tiny('v2', doei=dict(st_p2c=.05, af_p2c=1., sf_p2c=-.5))
    doei.load_state_dict(base.state_dict())
    assert list(doei.state_dict()) == list(base.state_dict())
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label([1, 3]), DataSample().set_gt_label([0])]
    l_base = base(x, samples, mode='loss')
    l_doei = doei(x, samples, mode='loss')
    assert set(l_base) == {'loss_cls', 'loss_patch'}
    assert not torch.allclose(l_base['loss_cls'], l_doei['loss_cls'])
    base.eval()
    doei.eval()
    assert not torch.allclose(base.predict_cams(x), doei.predict_cams(x))
    zero = build_tiny('v2', doei=dict(af_p2c=0., sf_p2c=0., af_c2c=0., sf_c2c=0.)).eval()
    zero.load_state_dict(base.state_dict())
    torch.testing.assert_close(zero.predict_cams(x), base.predict_cams(x), atol=1e-5, rtol=1e-5)


def test_losses_are_multilabel_soft_margin():
    model = build_tiny('v2')
    model.init_weights()
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label([1, 3]), DataSample().set_gt_label([0])]
    losses = model(x, samples, mode='loss')
    cls_logits, patch_logits = model(x)
    target = torch.zeros(2, 20)
    target[0, [1, 3]] = 1
    target[1, 0] = 1
    expected = torch.nn.functional.multilabel_soft_margin_loss
    torch.testing.assert_close(losses['loss_cls'], expected(cls_logits, target))
    torch.testing.assert_close(losses['loss_patch'], expected(patch_logits, target))
    preds = model(x, samples, mode='predict')
    torch.testing.assert_close(preds[0].pred_score, torch.sigmoid(cls_logits[0]))


def test_bad_cam_options():
    with pytest.raises(KeyError, match=r"MCTformerV2.cams: unknown option\(s\) \['layers'\]"):
        build_tiny('v2', cam_cfg=dict(layers=2))
    model = build_tiny('v2')
    with pytest.raises(ValueError, match='CAM type must be one of'):
        model.cams(torch.randn(1, 3, 64, 64), type='gradcam')
    with pytest.raises(ValueError, match=r'last_n must be in \[1, 3\]'):
        model.cams(torch.randn(1, 3, 64, 64), last_n=4)
    assert isinstance(model, MCTformerV2)
