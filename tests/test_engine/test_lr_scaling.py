"""The MCTformer recipe scales the learning rate with the total batch, as the authors'
main.py (``lr * batch * world_size / 512``), without any flag. (``--amp`` needs a GPU: its refusal on the CPU
is tests/test_tools/test_cli_contract.py's, in that module's one interpreter.)"""
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from projects.wsss_lab.synthetic import make_synthetic_voc

ROOT = Path(__file__).resolve().parents[2]

# configs/doei/mct_voc.py with a 2-block, 32-channel model on 64 x 64 crops; the
# schedule (lr, auto_scale_lr) and the batch of 64 are the real config's.
SMALL_MCT_VOC = f"""
_base_ = ['{ROOT / 'configs/doei/mct_voc.py'}']
model = dict(backbone=dict(
    arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
    img_size=64, patch_size=16, drop_path_rate=0., init_cfg=None),
    cam_cfg=dict(last_n=2))
train_dataloader = dict(num_workers=0, dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs')]))
val_dataloader = dict(num_workers=0, dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs')]))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(checkpoint=dict(save_best=None))
"""


@pytest.mark.slow
def test_dist_train_two_ranks_uses_the_authors_lr_for_2x64(tmp_path, free_port):
    """2 ranks x 64 images: 5e-4 * 64 * 2 / 512 = 1.25e-4, with no --auto-scale-lr."""
    # 128 train images: each rank's one step really holds 64.
    data_root = make_synthetic_voc(tmp_path / 'voc', num_train=128, num_val=4, img_size=(40, 40))
    config = tmp_path / 'small_mct_voc.py'
    config.write_text(SMALL_MCT_VOC)
    work = tmp_path / 'work'
    env = dict(os.environ, PORT=free_port, OMP_NUM_THREADS='1')
    res = subprocess.run(
        ['bash', str(ROOT / 'tools/dist_train.sh'), str(config), '2', '--data-root', str(data_root),
         '--work-dir', str(work)], capture_output=True, text=True, timeout=900, env=env)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    authors = 5e-4 * 64 * 2 / 512
    assert 'learning rate 0.000125 = 6.25e-05 x 2 rank(s) x 64 / 64' in log, log[-3000:]
    assert re.search(r'current batch size is 128\. Scaling the original LR by 2\.0', log), log[-3000:]
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu', weights_only=True)
    groups = ckpt['optimizer']['param_groups']
    assert groups and all(g['initial_lr'] == pytest.approx(authors, rel=1e-9) for g in groups), groups
    # Epoch 0 trains at the warm-up's start, 1e-6 whatever the batch, as the authors'
    # timm scheduler (docs/protocol.md; every epoch: tests/test_engine/test_timm_schedule.py).
    step_lrs = [float(x) for x in re.findall(r'Epoch\(train\).*? lr: ([0-9.e+-]+)', log)]
    assert step_lrs and step_lrs[0] == pytest.approx(1e-6, rel=1e-3), log[-3000:]
