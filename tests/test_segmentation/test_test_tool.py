"""tools/test.py on a stage-3 config: --tta (ms + flip + CRF), --metrics-out (metrics json), --out (prediction
PNGs, as mmseg), --show-dir (overlays)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from PIL import Image

from mmdoei.datasets import read_split

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'


@pytest.mark.slow
def test_tta_out_and_show_dir(synthetic_voc, tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(TINY)).model)  # random weights: the outputs are under test
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), ckpt)
    show, out, preds = tmp_path / 'vis', tmp_path / 'metrics.json', tmp_path / 'preds'
    res = subprocess.run([sys.executable, 'tools/test.py', str(TINY), str(ckpt), '--tta', '--data-root',
                          str(synthetic_voc), '--work-dir', str(tmp_path / 'work'), '--metrics-out', str(out),
                          '--out', str(preds), '--show-dir', str(show),
                          '--cfg-options', 'test_dataloader.num_workers=0'],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    metrics = json.loads(out.read_text())
    assert set(metrics) == {'aAcc', 'mIoU', 'mAcc'} and 0 <= metrics['mIoU'] <= 100
    assert "type='CRFSegTTAModel'" in log and "type='TestTimeAug'" in log  # the config the Runner logged
    val = read_split(str(synthetic_voc / 'ImageSets/Segmentation/val.txt'))
    # --out DIR: one label PNG per test image, named after it, at its size, with class indices
    assert sorted(p.name for p in preds.iterdir()) == sorted(f'{img_id}.png' for img_id in val)
    for img_id in val:
        size = Image.open(synthetic_voc / 'JPEGImages' / f'{img_id}.jpg').size
        label = Image.open(preds / f'{img_id}.png')
        assert label.mode == 'L' and label.size == size
        assert np.asarray(label).max() < 21
    overlays = sorted(show.rglob('*.png'))
    assert len(overlays) == len(val), [p.name for p in overlays]
    for img_id in val:
        path = next(p for p in overlays if img_id in p.name)
        image = np.asarray(Image.open(synthetic_voc / 'JPEGImages' / f'{img_id}.jpg'))
        drawn = np.asarray(Image.open(path).convert('RGB'))
        # ground truth and prediction side by side, each drawn over the image
        assert drawn.shape == (image.shape[0], 2 * image.shape[1], 3)
        assert not np.array_equal(drawn[:, image.shape[1]:], image)
