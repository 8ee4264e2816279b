"""AffinityNet as an mmengine model: registries, loss, prediction."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from mmseg.registry import MODELS as SEG_MODELS

from mmdoei.models.affinity import AffinityHead, AffinityNet, pair_affinities, random_walk_labels

TINY = dict(
    type='AffinityNet',
    backbone=dict(type='ResNet38d', out_indices=(2, 3, 5), widen_factor=0.125, stage_blocks=(1, 1, 1, 1, 1, 1),
                  frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True),
    head=dict(type='AffinityHead', in_channels=(64, 128, 512), channels=(8, 16, 32), out_channels=56),
    radius=3,
    test_cfg=dict(logt=4))


def ds(**fields) -> DataSample:
    """A data sample with the given data fields (as PackInputs' algorithm_keys)."""
    sample = DataSample()
    for name, value in fields.items():
        sample.set_field(value, name)
    return sample


@pytest.fixture
def model():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        torch.manual_seed(0)
        yield PRETRAIN_MODELS.build(TINY)


def test_registered_in_both_scopes():
    for name, cls in (('AffinityNet', AffinityNet), ('AffinityHead', AffinityHead)):
        assert PRETRAIN_MODELS.get(name) is SEG_MODELS.get(name) is cls


def test_head_fuses_levels_as_psa():
    head = AffinityHead(in_channels=(2, 3), channels=(1, 1), out_channels=2)
    with torch.no_grad():
        head.lateral_convs[0].weight.fill_(1.0)
        head.lateral_convs[1].weight.fill_(-1.0)
        head.fuse_conv.weight.copy_(torch.tensor([[1., 0.], [1., 1.]]).view(2, 2, 1, 1))
    a, b = torch.ones(1, 2, 1, 1), torch.ones(1, 3, 1, 1)
    # elu(2) = 2, elu(-3) = e^-3 - 1; fused: elu(2), elu(2 + e^-3 - 1)
    e3 = float(np.exp(-3.0)) - 1
    torch.testing.assert_close(head((a, b)).view(2), torch.tensor([2.0, 2.0 + e3]))


def test_loss_trains_head_and_unfrozen_backbone(model):
    model.train()
    x = torch.randn(2, 3, 48, 64)
    label = np.zeros((6, 8), np.uint8)
    label[:, 4:] = 3
    label[0, 0] = 255
    samples = [ds(gt_aff_label=label) for _ in range(2)]
    losses = model(x, samples, mode='loss')
    assert {'loss_bg', 'loss_fg', 'loss_neg'} <= set(losses)
    total = losses['loss_bg'] + losses['loss_fg'] + losses['loss_neg']
    assert torch.isfinite(total) and total > 0
    assert losses['fg_count'] > 0 and losses['bg_count'] > 0 and losses['neg_count'] > 0
    total.backward()
    assert model.head.fuse_conv.weight.grad.abs().sum() > 0
    assert model.backbone.layer3[0].conv1.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad is None  # frozen stem (PSA)
    bad = [ds(gt_aff_label=np.zeros((5, 8), np.uint8))]
    with pytest.raises(ValueError, match=r'gt_aff_label is \(5, 8\) but the features are \(6, 8\)'):
        model(x[:1], bad, mode='loss')
    with pytest.raises(KeyError, match='gt_aff_label'):
        model(x[:1], [DataSample()], mode='loss')


def test_predict_walks_the_cams(model):
    model.eval()
    x = torch.randn(1, 3, 48, 64)
    rng = np.random.default_rng(0)
    cams = rng.random((2, 45, 61)).astype(np.float32)  # the image before padding to 48 x 64
    sample = ds(cams=cams, cam_keys=np.array([11, 4]))
    out = model(x, [sample], mode='predict')[0]
    pred = out.pred_sem_seg.data
    assert pred.shape == (1, 45, 61)
    assert set(pred.unique().tolist()) <= {0, 5, 12}
    with torch.no_grad():
        aff = pair_affinities(model.extract_feat(x), radius=3)[0]
    expected = random_walk_labels(aff, (6, 8), torch.from_numpy(cams), [11, 4], radius=3, logt=4)
    assert torch.equal(pred[0], expected)
    model.test_cfg['dense'] = True  # PSA's dense squaring: same labels
    dense = model(x, [ds(cams=cams, cam_keys=np.array([11, 4]))], mode='predict')[0]
    assert torch.equal(dense.pred_sem_seg.data, pred)


def test_bad_settings_and_inputs(model):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        with pytest.raises(ValueError, match=r"unknown test_cfg keys \['log_t'\]"):
            PRETRAIN_MODELS.build(dict(TINY, test_cfg=dict(log_t=6)))
    model.eval()
    big = ds(cams=np.zeros((1, 50, 64), np.float32), cam_keys=np.array([0]))
    with pytest.raises(ValueError, match='must not be resized'):
        model(torch.randn(1, 3, 48, 64), [big], mode='predict')
    with pytest.raises(ValueError, match='mode must be'):
        model(torch.randn(1, 3, 48, 64), mode='features')
    assert model(torch.randn(1, 3, 48, 64)).shape == (1, 12, 4 * 4)  # 12 offsets, 4 x 4 from pixels
