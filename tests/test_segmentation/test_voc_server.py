"""VOC test-server output: palette PNGs in results/VOC2012/Segmentation/comp6_test_cls/ and a tgz."""
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import METRICS
from PIL import Image

from mmdoei.apis.config_surgery import apply_tta, set_data_root
from mmdoei.datasets import read_split
from mmdoei.datasets.categories import voc_palette

ROOT = Path(__file__).resolve().parents[2]
TEST_CFG = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-79k_voc12test-321x321.py'
TINY = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'


def test_writer_layout_and_archive(tmp_path):
    writer = METRICS.build(dict(type='VOCServerWriter', out_dir=str(tmp_path)))
    preds = {'2008_000001': np.array([[0, 15], [15, 20]]), '2008_000002': np.zeros((3, 5), int)}
    for img_id, pred in preds.items():
        writer.process({}, [dict(img_path=f'/data/JPEGImages/{img_id}.jpg',
                                 pred_sem_seg=dict(data=torch.from_numpy(pred)[None]))])
    # a sampler that rounds up the last batch repeats an image: counted once
    writer.process({}, [dict(img_path='/data/JPEGImages/2008_000001.jpg',
                             pred_sem_seg=dict(data=torch.from_numpy(preds['2008_000001'])[None]))])
    assert writer.evaluate(3) == {'voc_server/num_images': 2}
    folder = tmp_path / 'results/VOC2012/Segmentation/comp6_test_cls'
    for img_id, pred in preds.items():
        with Image.open(folder / f'{img_id}.png') as img:
            assert img.mode == 'P' and img.getpalette()[:63] == voc_palette()[:63]
            np.testing.assert_array_equal(np.asarray(img), pred)
    with tarfile.open(tmp_path / 'results.tgz') as tar:
        assert sorted(tar.getnames()) == [f'results/VOC2012/Segmentation/comp6_test_cls/{i}.png' for i in preds]


def test_test_split_config():
    """The test-split config (with --tta) reads test.txt, loads no masks and writes for the server."""
    cfg = apply_tta(Config.fromfile(str(TEST_CFG)))
    ds = cfg.test_dataloader.dataset
    assert ds.ann_file == 'ImageSets/Segmentation/test.txt'
    steps = [t['type'] for group in ds.pipeline[1].transforms for t in group]
    assert 'LoadAnnotations' not in steps and steps.count('Resize') == 5 and steps.count('RandomFlip') == 2
    assert cfg.test_evaluator.type == 'VOCServerWriter' and cfg.test_evaluator.comp == 'comp6'
    assert cfg.model.type == 'CRFSegTTAModel'


@pytest.mark.slow
def test_test_split_end_to_end(voc_copy, tmp_path):
    """tools/test.py's path (mmengine Runner) on a VOC folder with a test split
    and no masks for it: one palette PNG per test image and the archive."""
    test_ids = read_split(str(voc_copy / 'ImageSets/Segmentation/val.txt'))[:3]
    for img_id in test_ids:  # the server's test images have no public masks
        (voc_copy / 'SegmentationClass' / f'{img_id}.png').unlink()
    (voc_copy / 'ImageSets/Segmentation/test.txt').write_text(''.join(f'{i}\n' for i in test_ids))
    cfg = apply_tta(Config.fromfile(str(TEST_CFG)))
    cfg.model.module = Config.fromfile(str(TINY)).model  # random weights: the format is under test
    set_data_root(cfg, str(voc_copy))
    cfg.test_dataloader.num_workers = 0
    cfg.test_evaluator.out_dir = str(tmp_path / 'out')
    cfg.work_dir = str(tmp_path / 'work')
    metrics = Runner.from_cfg(cfg).test()
    assert metrics == {'voc_server/num_images': 3}
    folder = tmp_path / 'out/results/VOC2012/Segmentation/comp6_test_cls'
    assert sorted(p.stem for p in folder.iterdir()) == sorted(test_ids)
    for img_id in test_ids:
        with Image.open(folder / f'{img_id}.png') as png, Image.open(voc_copy / f'JPEGImages/{img_id}.jpg') as jpg:
            assert png.mode == 'P' and png.size == jpg.size
    assert (tmp_path / 'out/results.tgz').is_file()
