"""Stage 3 through the generic launchers: 2 CPU ranks train DeepLab; the
distributed ms+flip+CRF test scores exactly what the single-process test does."""
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

from projects.wsss_lab.synthetic import make_synthetic_voc

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'
ITERS = 6


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _start(cmd) -> subprocess.Popen:
    env = dict(os.environ, PORT=_free_port(), OMP_NUM_THREADS='1')
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _finish(*procs: subprocess.Popen) -> list:
    """Wait for every process (they run side by side); assert each exited with 0; their stdout + stderr."""
    logs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            logs.append(out + err)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-3000:]
    return logs


def _run(cmd) -> str:
    return _finish(_start(cmd))[0]


@pytest.mark.slow
def test_dist_train_and_test_match_single_process(tmp_path):
    # 7 val images: two ranks get 4 + 4, one repeated, which the metric must drop.
    data_root = make_synthetic_voc(tmp_path / 'voc', num_train=24, num_val=7, img_size=(48, 64))
    masks = str(data_root / 'SegmentationClassAug')  # GT standing in for pseudo masks
    work = tmp_path / 'train'
    log = _run(['bash', 'tools/dist_train.sh', str(TINY), '2', '--data-root', str(data_root), '--work-dir',
                str(work), '--cfg-options', f'train_dataloader.dataset.pseudo_mask_dir={masks}',
                'train_dataloader.batch_size=2', f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
                f'param_scheduler.0.end={ITERS}', f'default_hooks.checkpoint.interval={ITERS}',
                'default_hooks.logger.interval=2'])
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert len(re.findall(r'Iter\(train\) \[\s*\d+/6\].*? loss: [0-9.]+', log)) == ITERS // 2
    ckpt = work / f'iter_{ITERS}.pth'
    model = MODELS.build(Config.fromfile(str(TINY)).model)
    assert load_checkpoint(model, str(ckpt), map_location='cpu', strict=True)['meta']['iter'] == ITERS

    common = ['--data-root', str(data_root), '--tta']
    # side by side: the one-process test's single thread and the two ranks share the cores
    _, log = _finish(
        _start([sys.executable, 'tools/test.py', str(TINY), str(ckpt), '--work-dir', str(tmp_path / 'single'),
                '--metrics-out', str(tmp_path / 'single.json'), *common]),
        _start(['bash', 'tools/dist_test.sh', str(TINY), str(ckpt), '2', '--work-dir', str(tmp_path / 'dist'),
                '--metrics-out', str(tmp_path / 'dist.json'), *common]))
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    single = json.loads((tmp_path / 'single.json').read_text())
    dist = json.loads((tmp_path / 'dist.json').read_text())
    assert single is not None and dist is not None
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert dist[key] == single[key], (key, single, dist)
    assert torch.isfinite(torch.tensor(single['mIoU']))
