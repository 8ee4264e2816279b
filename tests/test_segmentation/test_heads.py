"""The DeepLab heads and the segmentor configs built from them."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

ROOT = Path(__file__).resolve().parents[2]
VOC_CFG = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py'
TINY_CFG = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'


def _head(**kw):
    cfg = dict(type='LargeFOVHead', in_channels=16, channels=8, num_classes=21)
    cfg.update(kw)
    return MODELS.build(cfg)


def test_largefov_matches_mctformer_layers():
    """The paper's head on ResNet-38d has MCTformer's fc8_seg_conv1/2 shapes."""
    cfg = Config.fromfile(str(VOC_CFG))
    head = MODELS.build(cfg.model.decode_head)
    assert tuple(head.fc.conv.weight.shape) == (512, 4096, 3, 3)
    assert head.fc.conv.dilation == (12, 12) and head.fc.conv.bias is not None
    assert tuple(head.conv_seg.weight.shape) == (21, 512, 3, 3)
    assert head.conv_seg.dilation == (12, 12) and head.conv_seg.padding == (12, 12)
    assert head.dropout is None


def test_largefov_field_of_view():
    """A logit sees input features 24 pixels away (two dilated convs of 12) but not 25."""
    head = _head().eval()
    torch.manual_seed(0)
    x = torch.randn(1, 16, 61, 61, requires_grad=True)  # random, so the ReLU passes gradients
    out = head([x])
    assert out.shape == (1, 21, 61, 61)
    out[0, :, 30, 30].sum().backward()
    reach = x.grad[0].abs().sum(0)
    assert reach[30, 30 + 24] > 0 and reach[30 - 24, 30] > 0
    assert reach[30, 30 + 25] == 0 and reach[30, 30 + 13] == 0


def test_largefov_1x1_classifier_option():
    head = _head(classifier_kernel_size=1)
    assert head.conv_seg.kernel_size == (1, 1)
    with pytest.raises(ValueError, match='classifier_kernel_size'):
        _head(classifier_kernel_size=5)


def test_aspp_v2_sums_its_branches():
    head = MODELS.build(dict(type='ASPPV2Head', in_channels=16, channels=1, num_classes=5,
                             dilations=(1, 2, 3))).eval()
    head.init_weights()
    x = torch.randn(1, 16, 12, 12)
    expected = sum(conv(x) for conv in head.aspp)
    torch.testing.assert_close(head([x]), expected)
    assert all(bool((conv.bias == 0).all()) for conv in head.aspp)  # DeepLab-v2 init


@pytest.mark.slow
def test_tiny_segmentor_trains_one_step():
    """The CPU-scale config builds an EncoderDecoder whose loss falls on one batch."""
    cfg = Config.fromfile(str(TINY_CFG))
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    torch.manual_seed(0)
    imgs = [torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)]
    samples = []
    for _ in imgs:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 64, 64)))
        s.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64)))
        samples.append(s)
    losses = []
    for _ in range(8):
        data = model.data_preprocessor(dict(inputs=imgs, data_samples=samples), training=True)
        loss = model(**data, mode='loss')['decode.loss_ce']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_paper_backbone_is_frozen_like_the_authors():
    """Stem conv and every BN frozen (MCTformer's resnet38d.Net.train())."""
    cfg = Config.fromfile(str(VOC_CFG))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.train()
    bb = model.backbone
    assert not bb.conv1.weight.requires_grad
    bns = [m for m in bb.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training and not m.weight.requires_grad for m in bns)
    assert bb.layer1[0].conv1.weight.requires_grad
