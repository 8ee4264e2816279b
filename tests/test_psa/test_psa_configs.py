"""The stage-2 configs: PSA's settings, and every registered name resolves."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS

import mmdoei  # noqa: F401

CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs' / 'psa').glob('*.py'))


def test_there_are_voc_coco_mct_and_demo_configs():
    names = {p.name for p in CONFIGS}
    assert {'affnet_resnet38d_1xb8-8e_voc12aug-448x448.py', 'affnet_resnet38d_1xb8-8e_coco14-448x448.py',
            'affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py',
            'affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_every_name_resolves(path):
    cfg = Config.fromfile(str(path))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        for loader in (cfg.train_dataloader, cfg.test_dataloader):
            assert DATASETS.get(loader.dataset.type) is not None
            for t in loader.dataset.pipeline:
                assert TRANSFORMS.get(t['type']) is not None, t['type']
        for name in (cfg.model.type, cfg.model.backbone.type, cfg.model.head.type, cfg.model.data_preprocessor.type):
            assert MODELS.get(name) is not None, name
        assert METRICS.get(cfg.test_evaluator.type) is not None
        for hook in cfg.custom_hooks:
            assert HOOKS.get(hook['type']) is not None


def test_psa_settings_in_the_voc_and_coco_configs():
    for name, classes in (('affnet_resnet38d_1xb8-8e_voc12aug-448x448.py', 21),
                          ('affnet_resnet38d_1xb8-8e_coco14-448x448.py', 81)):
        cfg = Config.fromfile(str(CONFIGS[0].parent / name))
        pipe = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
        labels = pipe['LoadAffinityLabelFromCAM']
        assert (labels['low_alpha'], labels['high_alpha']) == (4, 32)
        assert labels['num_classes'] == classes == cfg.test_evaluator.num_classes
        assert pipe['mmseg.RandomCrop']['crop_size'] == (448, 448) and pipe['RandomPad']['size'] == 448
        assert pipe['PoolAffinityLabel']['stride'] == 8
        assert cfg.train_dataloader.batch_size == 8 and cfg.train_cfg.max_epochs == 8
        assert cfg.optim_wrapper.optimizer.lr == 0.1 and cfg.optim_wrapper.optimizer.weight_decay == 5e-4
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys['head']['lr_mult'] == 10
        assert cfg.model.radius == 5
        assert dict(cfg.model.test_cfg) == dict(beta=8, logt=8, alpha=16, bg_threshold=None)
        assert cfg.test_dataloader.batch_size == 1 and cfg.test_dataloader.sampler.round_up is False
    mct = Config.fromfile(str(CONFIGS[0].parent / 'affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py'))
    pipe = {t['type']: t for t in mct.train_dataloader.dataset.pipeline}
    assert (pipe['LoadAffinityLabelFromCAM']['low_alpha'], pipe['LoadAffinityLabelFromCAM']['high_alpha']) == (1, 12)
    assert mct.model.test_cfg.logt == 6 and mct.model.test_cfg.bg_threshold == 0.39
    assert mct.optim_wrapper.optimizer.lr == 0.01 and mct.train_cfg.max_epochs == 5
