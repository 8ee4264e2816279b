"""Every config parses; the stage-1 and PSA configs, built from shared bases, keep their values."""
from pathlib import Path

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)
MODELS = {'mctformer/mctformer-v1_deit-s_1xb64-60e_{}-224.py': 'MCTformerV1',
          'mctformer/mctformer-v2_deit-s_1xb64-60e_{}-224.py': 'MCTformerV2',
          'tscam/tscam_deit-s_1xb64-60e_{}-224.py': 'TSCAM',
          'transcam/transcam_conformer-s_1xb8-20e_{}-512.py': 'TransCAM'}
DEIT_S = 'https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth'
# Each baseline's authors' CAM protocol (mmdoei.cam.CAM_PROTOCOLS, docs/protocol.md).
CAM_GEN = {'MCTformerV1': dict(protocol='mctformer'), 'MCTformerV2': dict(protocol='mctformer'),
           'TSCAM': dict(protocol='tscam', cam_cfg=dict(relu=False)),
           'TransCAM': dict(protocol='transcam', cam_cfg=dict(relu=False))}


def _load(rel: str) -> Config:
    return Config.fromfile(str(ROOT / 'configs' / rel))


@pytest.mark.slow
@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_every_config_parses(path):
    cfg = Config.fromfile(str(path))
    assert cfg.model['type'] and cfg.default_scope in ('mmpretrain', 'mmseg')


@pytest.mark.parametrize('dataset', ['voc12aug', 'coco14'])
@pytest.mark.parametrize('pattern', sorted(MODELS))
def test_stage1_dataset_values(pattern, dataset):
    cfg = _load(pattern.format(dataset))
    voc = dataset == 'voc12aug'
    classes = 20 if voc else 80
    assert cfg.model.type == MODELS[pattern] and cfg.model.num_classes == classes
    assert cfg.data_preprocessor.num_classes == classes and cfg.cam_eval.num_classes == classes + 1
    assert cfg.model.head.loss == dict(type='MultiLabelSoftMarginLoss')
    root = 'data/VOCdevkit/VOC2012/' if voc else 'data/coco/'
    loaders = [cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader, cfg.cam_dataloader]
    assert {loader.dataset.data_root for loader in loaders} == {cfg.cam_eval.data_root} == {root}
    assert {loader.dataset.type for loader in loaders} == {'VOCWSSSDataset' if voc else 'COCOWSSSDataset'}
    if voc:
        assert cfg.train_dataloader.dataset.split == cfg.cam_dataloader.dataset.split == \
            'ImageSets/Segmentation/train_aug.txt'
        assert cfg.val_dataloader.dataset.split == 'ImageSets/Segmentation/val.txt'
        assert (cfg.cam_eval.split, cfg.cam_eval.gt_dir) == ('ImageSets/Segmentation/train.txt', 'SegmentationClassAug')
    else:
        assert cfg.train_dataloader.dataset.ann_file == cfg.cam_dataloader.dataset.ann_file == \
            'annotations/instances_train2014.json'
        assert cfg.val_dataloader.dataset.ann_file == 'annotations/instances_val2014.json'
        assert cfg.val_dataloader.dataset.data_prefix == dict(img_path='val2014',
                                                              seg_map_path='SegmentationClass/val2014')
        assert (cfg.cam_eval.split, cfg.cam_eval.gt_dir) == ('train_id.txt', 'SegmentationClass/train2014')
    assert cfg.train_dataloader.dataset.min_size == cfg.cam_dataloader.dataset.min_size == 16
    assert [t['type'] for t in cfg.cam_dataloader.dataset.pipeline] == ['LoadImageFromFile', 'PackInputs']
    assert cfg.test_dataloader == cfg.val_dataloader


@pytest.mark.slow
@pytest.mark.parametrize('dataset', ['voc12aug', 'coco14'])
def test_image_sizes_and_recipes(dataset):
    for pattern in sorted(MODELS):
        cfg = _load(pattern.format(dataset))
        train = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
        assert cfg.cam_gen == CAM_GEN[MODELS[pattern]], pattern
        val = {t['type']: t for t in cfg.val_dataloader.dataset.pipeline}
        if MODELS[pattern] == 'TransCAM':  # the TransCAM authors' 512 recipe
            assert train['RandomCrop']['crop_size'] == 512 and train['RandomCrop']['pad_val'] == (104, 116, 124)
            assert train['RandomResize']['scale'] == (320, 320) and train['RandomResize']['ratio_range'] == (1., 2.)
            assert 'torchvision/ColorJitter' in train and 'RandAugment' not in train
            assert val['Resize']['scale'] == (512, 512) and 'CenterCrop' not in val
            assert cfg.train_dataloader.batch_size == cfg.val_dataloader.batch_size == 8
            assert cfg.optim_wrapper.optimizer.lr == 5e-5 and cfg.train_cfg.max_epochs == 20
        else:  # MCTformer's DeiT recipe at 224
            assert train['RandomResizedCrop']['scale'] == 224 and 'RandAugment' in train
            assert train['RandomErasing']['fill_color'] == [103.53, 116.28, 123.675]
            assert val['ResizeEdge']['scale'] == 256 and val['CenterCrop']['crop_size'] == 224
            assert cfg.train_dataloader.batch_size == cfg.val_dataloader.batch_size == 64
            assert cfg.optim_wrapper.optimizer.lr == 5e-4 * 64 / 512 and cfg.train_cfg.max_epochs == 60
            assert cfg.model.backbone.init_cfg.checkpoint == DEIT_S


def test_model_settings():
    tscam = _load('tscam/tscam_deit-s_1xb64-60e_voc12aug-224.py').model
    assert tscam.cam_cfg == dict(relu=True) and tscam.backbone.drop_path_rate == 0.1
    v1 = _load('mctformer/mctformer-v1_deit-s_1xb64-60e_voc12aug-224.py').model
    assert v1.cam_cfg == dict(last_n=3, refine=True)
    v2 = _load('mctformer/mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py').model
    assert v2.cam_cfg == dict(type='fused', last_n=3, refine=True)
    transcam = _load('transcam/transcam_conformer-s_1xb8-20e_voc12aug-512.py').model
    assert transcam.cam_cfg == dict(type='transcam', relu=True) and transcam.backbone.arch == 'small'


def test_psa_coco_is_the_voc_recipe_on_coco():
    voc, coco = (_load(f'psa/affnet_resnet38d_1xb8-8e_{d}-448x448.py') for d in ('voc12aug', 'coco14'))
    labels = coco.train_dataloader.dataset.pipeline[1]
    assert labels == dict(type='LoadAffinityLabelFromCAM', cam_dir='work_dirs/cams/coco14_train', low_alpha=4,
                          high_alpha=32, num_classes=81, cache_dir='work_dirs/cams/coco14_train_psa_crf')
    assert coco.test_dataloader.dataset.pipeline[1].cam_dir == 'work_dirs/cams/coco14_train'
    assert coco.train_dataloader.dataset.pipeline[2:] == voc.train_dataloader.dataset.pipeline[2:]
    assert 'split' not in coco.train_dataloader.dataset and coco.test_dataloader.dataset.data_root == 'data/coco/'
    tiny = _load('psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py')
    steps = {t['type']: t for t in tiny.train_dataloader.dataset.pipeline}
    assert steps['LoadAffinityLabelFromCAM'].cache_dir == 'work_dirs/demo_psa/cams_psa_crf'
    assert steps['mmseg.RandomCrop'].crop_size == (128, 128) and steps['RandomPad'].size == 128
    mct = _load('psa/affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py')
    assert mct.train_dataloader.dataset.pipeline[1].cache_dir == 'work_dirs/cams/voc12_train_aug_mct_crf'


def test_seg_coco_is_the_voc_recipe_on_coco():
    coco = _load('deeplab/deeplabv1-largefov_resnet38d_1xb4-616k_coco14-321x321.py')
    ds = coco.train_dataloader.dataset
    assert (ds.type, ds.data_root, ds.ann_file, ds.data_prefix) == \
        ('COCOObjectDataset', 'data/coco/', 'train_id.txt', dict(img_path='train2014'))
    assert ds.pseudo_mask_dir == 'work_dirs/pseudo_masks/coco14_train' and ds.pipeline[1].num_classes == 81
    assert coco.test_dataloader.dataset.data_prefix.seg_map_path == 'SegmentationClass/val2014'
