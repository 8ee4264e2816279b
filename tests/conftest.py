"""Shared fixtures: tiny synthetic datasets in the real VOC / COCO layouts.

Session scoped and read-only: a test that damages files copies the folder
first (see ``voc_copy``).
"""
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from mmdoei.generators.synthetic import make_synthetic_coco, make_synthetic_voc
from mmdoei.utils import setup_env

# One fixed hypothesis profile for every run (CI and local): the same examples
# each time (derandomize), a bounded number of them, no example database
# (nothing written into the repository), no per-example deadline (a shared
# 2-core machine makes timings meaningless).
settings.register_profile('mmdoei', derandomize=True, max_examples=60, deadline=None, database=None,
                          print_blob=False, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile('mmdoei')

# The tests build Runners themselves (resume, torchrun on the CPU), as the tools do.
setup_env()

VOC_KW = dict(num_train=30, num_val=10, img_size=(48, 64), seed=0)


@pytest.fixture(scope='session')
def synthetic_voc(tmp_path_factory):
    """``data_root`` (the ``VOC2012`` folder) of a 40-image 48x64 VOC-layout set."""
    return make_synthetic_voc(tmp_path_factory.mktemp('synthetic_voc'), **VOC_KW)


@pytest.fixture(scope='session')
def synthetic_coco(tmp_path_factory):
    """``data_root`` of a 30-image 48x64 COCO-2014-layout set."""
    return make_synthetic_coco(
        tmp_path_factory.mktemp('synthetic_coco'), num_train=20, num_val=10, img_size=(48, 64), seed=0)


@pytest.fixture
def voc_copy(synthetic_voc, tmp_path):
    """A private copy of the synthetic VOC set that a test may damage."""
    return shutil.copytree(synthetic_voc, tmp_path / 'VOC2012')


@pytest.fixture
def coco_copy(synthetic_coco, tmp_path):
    """A private copy of the synthetic COCO set that a test may damage."""
    return shutil.copytree(synthetic_coco, tmp_path / 'coco')


@pytest.fixture(scope='session')
def tiny_pretrained(tmp_path_factory):
    """A checkpoint of the real pretraining config after one short epoch on a
    5-class, 15-image procedural set: the format and shapes of the cached
    backbone the demo configs initialise from."""
    from mmdoei.apis.pretrain import PRETRAIN_CONFIG, pretrain_backbone
    tmp = tmp_path_factory.mktemp('pretrain')
    out = tmp / 'vit.pth'
    config = str(Path(__file__).resolve().parents[1] / PRETRAIN_CONFIG)
    pretrain_backbone(config, str(out), data_root=str(tmp / 'procedural'), work_dir=str(tmp / 'work'),
                      cfg_options={'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
                                   'default_hooks.checkpoint.interval': 1,
                                   'train_dataloader.batch_size': 4, 'train_dataloader.num_workers': 0,
                                   'train_dataloader.persistent_workers': False,
                                   'val_dataloader.num_workers': 0, 'val_dataloader.persistent_workers': False,
                                   'model.head.num_classes': 5, 'data_preprocessor.num_classes': 5,
                                   'log_level': 'WARNING'},
                      data_options=dict(num_classes=5, num_train=3, num_val=1, progress=False))
    return out
