"""Shared fixtures: tiny synthetic datasets in the real VOC / COCO layouts.

Session scoped and read-only: a test that damages files copies the folder
first (see ``voc_copy``).
"""
import shutil

import pytest

from mmdoei.datasets.synthetic import make_synthetic_coco, make_synthetic_voc

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
