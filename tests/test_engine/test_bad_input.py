"""Bad training data stops tools/train.py before training, naming the file."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS
from PIL import Image

from mmdoei.apis.config_surgery import set_data_root
from mmdoei.utils.files import read_split
from projects.wsss_lab.synthetic import make_synthetic_voc

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
    return make_synthetic_voc(tmp_path_factory.mktemp('bad') / 'voc', num_train=12, num_val=4,
                              img_size=(48, 48))


def _copy(clean, tmp_path):
    root = tmp_path / 'VOC2012'
    shutil.copytree(clean, root)
    return root, read_split(str(root / 'ImageSets/Segmentation/train_aug.txt'))


def _build_train_set(root):
    cfg = Config.fromfile(str(CONFIG))
    set_data_root(cfg, str(root))
    return DATASETS.build(cfg.train_dataloader.dataset)


def test_missing_image(clean, tmp_path):
    root, ids = _copy(clean, tmp_path)
    (root / 'JPEGImages' / f'{ids[3]}.jpg').unlink()
    with pytest.raises(FileNotFoundError, match=f'{ids[3]}.jpg'):
        _build_train_set(root)


def test_image_smaller_than_a_patch(clean, tmp_path):
    root, ids = _copy(clean, tmp_path)
    Image.new('RGB', (12, 40)).save(root / 'JPEGImages' / f'{ids[2]}.jpg')
    with pytest.raises(ValueError, match=rf'smaller than 16 pixels \(one patch\)(.|\n)*{ids[2]}.jpg: 40 x 12'):
        _build_train_set(root)


def test_label_row_with_wrong_classes(clean, tmp_path):
    root, ids = _copy(clean, tmp_path)
    (root / 'labels.txt').write_text(f'{ids[0]} 3 27\n')
    cfg = Config.fromfile(str(CONFIG))
    set_data_root(cfg, str(root))
    cfg.train_dataloader.dataset.label_file = 'labels.txt'
    with pytest.raises(ValueError, match=r'labels.txt:1: class index 27 out of range 0..19'):
        DATASETS.build(cfg.train_dataloader.dataset)


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['L', 'RGBA'])
def test_grayscale_and_rgba_images_train(clean, tmp_path, mode):
    root, ids = _copy(clean, tmp_path)
    path = root / 'JPEGImages' / f'{ids[0]}.jpg'
    img = Image.open(path).convert(mode)
    if mode == 'RGBA':
        path = path.with_suffix('.png')  # JPEG has no alpha; keep the name the list expects
        img.save(path, format='PNG')
        path.rename(path.with_suffix('.jpg'))
    else:
        img.save(path)
    sample = _build_train_set(root)[0]
    assert sample['inputs'].shape[0] == 3


@pytest.mark.slow
def test_train_tool_stops_before_training(clean, tmp_path):
    root, ids = _copy(clean, tmp_path)
    (root / 'JPEGImages' / f'{ids[5]}.jpg').unlink()
    res = subprocess.run([sys.executable, str(ROOT / 'tools/train.py'), str(CONFIG), '--data-root', str(root),
                          '--work-dir', str(tmp_path / 'w')], capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert f'{ids[5]}.jpg' in res.stderr and 'Epoch(train)' not in res.stdout + res.stderr
