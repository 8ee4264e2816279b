"""Training data of stage 3: pseudo masks through mmseg datasets, and bad input."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import DATASETS
from PIL import Image

from mmdoei.datasets import read_label_png, read_split
from mmdoei.datasets.categories import COCO_CLASSES
from mmdoei.datasets.transforms import RandomRescale

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadPseudoMask', num_classes=21)]


@pytest.fixture
def pseudo_masks(synthetic_voc, tmp_path):
    """A pseudo-mask folder: the GT masks of train_aug with the 255 band set to background."""
    out = tmp_path / 'pseudo'
    out.mkdir()
    for img_id in read_split(str(synthetic_voc / 'ImageSets/Segmentation/train_aug.txt')):
        mask = read_label_png(str(synthetic_voc / 'SegmentationClassAug' / f'{img_id}.png')).copy()
        mask[mask == 255] = 0
        Image.fromarray(mask, 'L').save(out / f'{img_id}.png')
    return out


def _dataset(data_root, pseudo, pipeline=PIPELINE):
    return DATASETS.build(dict(type='VOCPseudoMaskDataset', data_root=str(data_root),
                               ann_file='ImageSets/Segmentation/train_aug.txt',
                               data_prefix=dict(img_path='JPEGImages'), pseudo_mask_dir=str(pseudo),
                               pipeline=pipeline))


@pytest.mark.slow
def test_pseudo_masks_are_the_seg_maps(synthetic_voc, pseudo_masks):
    ds = _dataset(synthetic_voc, pseudo_masks)
    assert len(ds) == 30
    sample = ds[0]
    img_id = Path(sample['img_path']).stem
    assert sample['seg_map_path'] == str(pseudo_masks / f'{img_id}.png')
    np.testing.assert_array_equal(sample['gt_seg_map'], read_label_png(str(pseudo_masks / f'{img_id}.png')))
    assert sample['gt_seg_map'].shape == sample['img'].shape[:2]


@pytest.mark.slow
def test_relative_pseudo_mask_dir_is_relative_to_the_working_directory(synthetic_voc, pseudo_masks, monkeypatch):
    monkeypatch.chdir(pseudo_masks.parent)
    ds = _dataset(synthetic_voc, 'pseudo')
    assert ds[0]['seg_map_path'].startswith(str(pseudo_masks) + '/')


def test_missing_mask_named_before_training(synthetic_voc, pseudo_masks):
    victim = sorted(pseudo_masks.iterdir())[3]
    victim.unlink()
    with pytest.raises(FileNotFoundError) as err:
        _dataset(synthetic_voc, pseudo_masks)
    assert str(victim) in str(err.value) and '1 of 30 pseudo masks' in str(err.value)


@pytest.mark.slow
def test_wrong_size_mask_named(synthetic_voc, pseudo_masks):
    victim = sorted(pseudo_masks.iterdir())[0]
    Image.fromarray(np.zeros((32, 32), np.uint8), 'L').save(victim)
    ds = _dataset(synthetic_voc, pseudo_masks)
    with pytest.raises(ValueError, match=f'{victim}: pseudo mask is 32x32 but the image is 48x64'):
        ds[0]


@pytest.mark.slow
def test_class_outside_the_dataset_named(synthetic_voc, pseudo_masks):
    victim = sorted(pseudo_masks.iterdir())[1]
    mask = read_label_png(str(victim)).copy()
    mask[:4, :4] = 30  # VOC has classes 0..20
    Image.fromarray(mask, 'L').save(victim)
    ds = _dataset(synthetic_voc, pseudo_masks)
    with pytest.raises(ValueError, match=rf'{victim}: pseudo mask values \[30\] are not classes 0..20'):
        ds[1]


@pytest.mark.slow
def test_bad_mask_stops_training_with_its_name(synthetic_voc, pseudo_masks, tmp_path):
    """The same error reaches the user through mmengine's training loop."""
    victim = sorted(pseudo_masks.iterdir())[5]
    Image.fromarray(np.zeros((20, 20), np.uint8), 'L').save(victim)
    cfg = Config.fromfile(str(TINY))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.dataset.update(data_root=str(synthetic_voc), pseudo_mask_dir=str(pseudo_masks))
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)  # reach the file early
    cfg.val_dataloader.dataset.data_root = str(synthetic_voc)
    cfg.train_cfg.max_iters = 2
    with pytest.raises(ValueError, match=f'{victim}: pseudo mask is 20x20'):
        Runner.from_cfg(cfg).train()


@pytest.mark.slow
def test_random_rescale_keeps_image_and_mask_aligned(synthetic_voc, pseudo_masks):
    pipeline = PIPELINE + [dict(type='RandomRescale', ratio_range=(1.5, 1.5))]
    sample = _dataset(synthetic_voc, pseudo_masks, pipeline)[0]
    assert sample['img'].shape[:2] == sample['gt_seg_map'].shape == (72, 96)
    # nearest-neighbour on the mask: no new values appear
    base = _dataset(synthetic_voc, pseudo_masks)[0]['gt_seg_map']
    assert set(np.unique(sample['gt_seg_map'])) <= set(np.unique(base))
    with pytest.raises(ValueError, match='ratio_range'):
        RandomRescale(ratio_range=(1.2, 0.8))


@pytest.mark.slow
def test_coco_object_dataset_81_classes(synthetic_coco, tmp_path):
    val = DATASETS.build(dict(type='COCOObjectDataset', data_root=str(synthetic_coco), ann_file='val_id.txt',
                              data_prefix=dict(img_path='val2014', seg_map_path='SegmentationClass/val2014'),
                              pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]))
    assert len(val) == 10 and val.metainfo['classes'] == ('background', ) + COCO_CLASSES
    assert len(val.metainfo['palette']) == 81
    sample = val[0]
    assert sample['gt_seg_map'].shape == sample['img'].shape[:2]
    # training on pseudo masks: the same key as VOC
    pseudo = tmp_path / 'coco_pseudo'
    shutil.copytree(synthetic_coco / 'SegmentationClass/train2014', pseudo)
    train = DATASETS.build(dict(type='COCOObjectDataset', data_root=str(synthetic_coco), ann_file='train_id.txt',
                                data_prefix=dict(img_path='train2014'), pseudo_mask_dir=str(pseudo),
                                pipeline=[dict(type='LoadImageFromFile'),
                                          dict(type='LoadPseudoMask', num_classes=81)]))
    assert len(train) == 20 and train[0]['gt_seg_map'].max() <= 80
