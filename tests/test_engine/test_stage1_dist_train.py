"""The TS-CAM and TransCAM entry-point configs train with tools/dist_train.sh on 2 CPU
ranks, shrunk from the command line only (data root and size options)."""
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from projects.wsss_lab.synthetic import make_synthetic_voc

ROOT = Path(__file__).resolve().parents[2]
COMMON = ['model.backbone.init_cfg=None', 'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
          'train_cfg.max_epochs=1', 'val_dataloader.num_workers=0', 'val_dataloader.batch_size=8']
SIZES = {
    'configs/doei/tscam_voc.py': [
        'model.backbone.arch=deit-tiny', 'model.backbone.img_size=64', 'train_dataloader.dataset.pipeline.1.scale=64',
        'val_dataloader.dataset.pipeline.1.scale=64', 'val_dataloader.dataset.pipeline.2.crop_size=64'],
    'configs/doei/transcam_voc.py': [
        'model.backbone.arch=tiny', 'train_dataloader.dataset.pipeline.1.scale=(64,64)',
        'train_dataloader.dataset.pipeline.6.crop_size=64',
        'val_dataloader.dataset.pipeline.1.scale=(64,64)'],  # TransCAM validates on plain 512 squares
}


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    return make_synthetic_voc(tmp_path_factory.mktemp('voc') / 'voc', num_train=16, num_val=8, img_size=(64, 64))


@pytest.mark.slow
@pytest.mark.parametrize('config', sorted(SIZES))
def test_entry_point_trains_on_two_cpu_ranks(config, voc, tmp_path):
    work = tmp_path / 'work'
    env = dict(os.environ, PORT=str(29300 + (os.getpid() + len(config)) % 100))
    res = subprocess.run(['bash', str(ROOT / 'tools/dist_train.sh'), str(ROOT / config), '2',
                          '--data-root', str(voc), '--work-dir', str(work),
                          '--cfg-options', *COMMON, *SIZES[config]],
                         capture_output=True, text=True, timeout=900, env=env)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert re.search(r'Epoch\(train\).*loss: [0-9.]+', log)
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 1 and any('backbone' in k for k in ckpt['state_dict'])
