"""Every stage-3 config parses and follows the same conventions."""
import copy
from pathlib import Path

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

from mmdoei.apis.config_surgery import apply_tta

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / 'configs/deeplab').glob('*.py'))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_conventions(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports['imports'] == ['mmdoei']
    tta = apply_tta(copy.deepcopy(cfg))  # what tools/test.py --tta tests: the model wrapped
    steps = [t['type'] for group in tta.test_dataloader.dataset.pipeline[1].transforms for t in group]
    assert steps.count('Resize') == 5 and steps.count('RandomFlip') == 2
    assert tta.model['type'] == 'CRFSegTTAModel' and tta.model['module'] == cfg.model
    assert tta.model['merge_mode'] in ('max', 'mean') and tta.model['crf'] is not None
    ds = cfg.train_dataloader.dataset
    assert ds.type in ('VOCPseudoMaskDataset', 'COCOObjectDataset') and ds.pseudo_mask_dir
    assert any(t['type'] == 'LoadPseudoMask' for t in ds.pipeline)
    assert cfg.val_evaluator.type == 'IoUMetric' and 'seg_map_path' in cfg.val_dataloader.dataset.data_prefix
    num_classes = cfg.model.decode_head.num_classes
    assert num_classes == (81 if 'coco' in path.name else 21)
    assert [t for t in ds.pipeline if t['type'] == 'LoadPseudoMask'][0]['num_classes'] == num_classes
    assert cfg.tta_model.type == 'CRFSegTTAModel' and 'tta_pipeline' in cfg


def test_deeplab_v2_resnet101_builds():
    cfg = Config.fromfile(str(ROOT / 'configs/deeplab/deeplabv2_r101-d8_1xb10-20k_voc12aug-321x321.py'))
    cfg.model.pretrained = None
    model = MODELS.build(cfg.model)
    assert [c.dilation for c in model.decode_head.aspp] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    assert 43e6 < sum(p.numel() for p in model.parameters()) < 45e6  # ResNet-101 + 4 classifiers
