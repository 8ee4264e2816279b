"""CRFSegTTAModel: merging of augmented predictions and the dense CRF."""
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

from mmdoei.apis.config_surgery import apply_tta
from mmdoei.models.segmentors import DEEPLAB_CRF, CRFSegTTAModel

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'
VOC = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py'
COCO = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-616k_coco14-321x321.py'

# MCTformer's seg/tool/imutils.py crf_inference_inf, written out independently of the code.
PAPER_CRF = dict(iterations=10, gaussian_sxy=4, gaussian_compat=3, bilateral_sxy=83, bilateral_srgb=5,
                 bilateral_compat=3)


class _Stub(nn.Module):
    """Stands in for a segmentor: TTA only needs ``test_step`` and ``out_channels``."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def test_step(self, data):  # pragma: no cover - merge_preds is tested directly
        raise NotImplementedError


def _sample(logits: torch.Tensor, img_path: str = '', gt=None) -> SegDataSample:
    s = SegDataSample(metainfo=dict(img_path=img_path, ori_shape=tuple(logits.shape[1:])))
    s.seg_logits = PixelData(data=logits)
    if gt is not None:
        s.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    return s


def _miou(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> float:
    ious = []
    for c in range(num_classes):
        inter = np.logical_and(pred == c, gt == c).sum()
        union = np.logical_or(pred == c, gt == c).sum()
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


def test_merge_mean_and_max():
    a = torch.log(torch.tensor([[[0.6]], [[0.3]], [[0.1]]]))
    b = torch.log(torch.tensor([[[0.1]], [[0.45]], [[0.45]]]))
    for mode, probs, label in (('mean', [0.35, 0.375, 0.275], 1), ('max', [0.6, 0.45, 0.45], 0)):
        tta = CRFSegTTAModel(module=_Stub(3), merge_mode=mode)
        out, = tta.merge_preds([[_sample(a, gt=[[2]]), _sample(b)]])
        torch.testing.assert_close(out.seg_logits.data[:, 0, 0], torch.tensor(probs))
        assert out.pred_sem_seg.data.shape == (1, 1, 1) and int(out.pred_sem_seg.data) == label
        assert int(out.gt_sem_seg.data) == 2  # kept for IoUMetric


def test_crf_settings_default_to_the_paper_and_are_config_keys():
    assert DEEPLAB_CRF == PAPER_CRF
    assert CRFSegTTAModel(module=_Stub(3), crf=dict()).crf == PAPER_CRF
    assert CRFSegTTAModel(module=_Stub(3)).crf is None  # off unless asked for: a drop-in SegTTAModel
    partial = CRFSegTTAModel(module=_Stub(3), crf=dict(bilateral_srgb=3)).crf
    assert partial == dict(PAPER_CRF, bilateral_srgb=3)
    with pytest.raises(ValueError, match='unknown CRF settings'):
        CRFSegTTAModel(module=_Stub(3), crf=dict(sxy=3))
    with pytest.raises(ValueError, match='merge_mode'):
        CRFSegTTAModel(module=_Stub(3), merge_mode='median')
    for path, extra in ((VOC, {}), (COCO, {}), (TINY, dict(scale_factor=500 / 64))):
        model = apply_tta(Config.fromfile(str(path))).model  # tools/test.py --tta
        assert model['type'] == 'CRFSegTTAModel' and model['merge_mode'] == 'max'
        assert dict(model['crf']) == dict(PAPER_CRF, **extra)


def _sharp_scene(h: int = 96, w: int = 128):
    """Three flat colours with straight and round edges, and a DeepLab-like
    prediction of it: class scores at 1/8 resolution, upsampled (blurred
    edges), with noise."""
    gt = np.zeros((h, w), np.int64)
    gt[20:70, 10:60] = 1
    yy, xx = np.mgrid[:h, :w]
    gt[(yy - 50) ** 2 + (xx - 95) ** 2 < 22 ** 2] = 2
    colours = np.array([[40, 40, 40], [200, 60, 50], [50, 190, 80]], np.uint8)
    rng = np.random.default_rng(0)
    img = np.clip(colours[gt] + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    onehot = F.one_hot(torch.from_numpy(gt), 3).permute(2, 0, 1)[None].float()
    coarse = F.avg_pool2d(onehot, 8)
    coarse = coarse + 0.25 * torch.from_numpy(rng.random(coarse.shape)).float()
    probs = F.interpolate(coarse, (h, w), mode='bilinear', align_corners=False)[0]
    return img, gt, torch.log(probs / probs.sum(0, keepdim=True))


def test_crf_sharpens_boundaries(tmp_path):
    """On a scene with sharp colour edges, the CRF with the paper's settings
    raises mIoU over the plain arg-max of the same scores."""
    img, gt, logits = _sharp_scene()
    path = str(tmp_path / 'scene.png')
    mmcv.imwrite(img[..., ::-1], path)
    samples = [_sample(logits, path)]
    plain, = CRFSegTTAModel(module=_Stub(3), merge_mode='max').merge_preds([samples])
    crf, = CRFSegTTAModel(module=_Stub(3), merge_mode='max', crf=dict()).merge_preds([samples])
    miou_plain = _miou(plain.pred_sem_seg.data[0].numpy(), gt, 3)
    miou_crf = _miou(crf.pred_sem_seg.data[0].numpy(), gt, 3)
    assert miou_crf >= miou_plain
    assert miou_crf > miou_plain + 0.02, (miou_plain, miou_crf)
    marginals = crf.seg_logits.data
    torch.testing.assert_close(marginals.sum(0), torch.ones(marginals.shape[1:]), atol=1e-4, rtol=0)


def test_crf_needs_the_image(tmp_path):
    _, _, logits = _sharp_scene()
    tta = CRFSegTTAModel(module=_Stub(3), crf=dict())
    with pytest.raises(ValueError, match='img_path'):
        tta.merge_preds([[_sample(logits, str(tmp_path / 'gone.png'))]])
    small = str(tmp_path / 'small.png')
    mmcv.imwrite(np.zeros((10, 10, 3), np.uint8), small)
    with pytest.raises(ValueError, match='small.png: image is 10x10'):
        tta.merge_preds([[_sample(logits, small)]])


def test_apply_tta_wraps_any_config():
    """tools/test.py --tta: the model wrapped in the config's tta_model, the
    test pipeline its tta_pipeline (mmseg's convention)."""
    cfg = Config.fromfile(str(TINY))
    generated = apply_tta(Config.fromfile(str(TINY)))
    assert generated.model.to_dict() == dict(cfg.tta_model.to_dict(), module=cfg.model.to_dict())
    assert generated.test_dataloader.dataset.pipeline == cfg.tta_pipeline
    model = MODELS.build(generated.model)
    assert isinstance(model, CRFSegTTAModel) and model.crf == dict(PAPER_CRF, scale_factor=500 / 64)
    assert len(generated.test_dataloader.dataset.pipeline[1].transforms[0]) == 5  # scales
    cfg.pop('tta_pipeline')
    with pytest.raises(KeyError, match='--tta needs tta_pipeline'):
        apply_tta(cfg)
