"""configs/doei/mct_voc.py (at test scale) trains with 2 CPU ranks on a VOC-layout folder."""
import os
import re
import subprocess
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from mmdoei.generators.synthetic import make_synthetic_voc

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'


@pytest.mark.slow
def test_dist_train_two_ranks_loss_falls_and_checkpoint_loads(tmp_path, free_port):
    data_root = make_synthetic_voc(tmp_path / 'voc', num_train=48, num_val=8, img_size=(64, 64))
    work = tmp_path / 'work'
    env = dict(os.environ, PORT=free_port)
    res = subprocess.run(
        ['bash', str(ROOT / 'tools/dist_train.sh'), str(CONFIG), '2', '--data-root', str(data_root),
         '--work-dir', str(work), '--cfg-options', 'train_dataloader.batch_size=4',
         'train_cfg.max_epochs=4', 'default_hooks.logger.interval=3'],
        capture_output=True, text=True, timeout=900, env=env)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    losses = [float(x) for x in re.findall(r'Epoch\(train\).*? loss: ([0-9.]+)', log)]
    assert len(losses) >= 4, log[-2000:]
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    cfg = Config.fromfile(str(CONFIG))
    model = MODELS.build(cfg.model)
    ckpt = load_checkpoint(model, str(work / 'epoch_4.pth'), map_location='cpu', strict=True)
    assert ckpt['meta']['epoch'] == 4
    assert model.backbone.doei is not None  # DOEI came with the config
