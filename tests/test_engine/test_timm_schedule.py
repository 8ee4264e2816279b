"""The MCTformer schedule trains each epoch at the rate the authors' loop gives it.

Their main.py scales the lr by the total batch / 512, builds timm's scheduler with
``create_scheduler(args, optimizer)`` from its argparse defaults and calls
``step(epoch)`` after each epoch (docs/protocol.md, stage 1). Here a real mmengine
Runner trains a one-weight model epoch by epoch on our schedule file, and the lr of
every epoch is compared with that loop run on timm.
"""
import math
from argparse import Namespace
from pathlib import Path
from typing import List

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from timm.scheduler import create_scheduler

from mmdoei.engine import TimmCosineLR

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = ROOT / 'configs/_base_/schedules/mctformer_adamw_60e.py'


def authors_lrs(lr: float, epochs: int) -> List[float]:
    """The lr each epoch trains at in the authors' loop, timm doing the scheduling.

    Their argparse defaults for what timm's factory reads: cosine, 5 warm-up epochs
    from 1e-6, min lr 1e-5, 10 cool-down epochs, decay rate 0.1, no lr noise.
    """
    args = Namespace(sched='cosine', epochs=epochs, lr=lr, lr_noise=None, lr_noise_pct=0.67, lr_noise_std=1.0,
                     warmup_lr=1e-6, min_lr=1e-5, decay_epochs=30, warmup_epochs=5, cooldown_epochs=10,
                     patience_epochs=10, decay_rate=0.1)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler, _ = create_scheduler(args, optimizer)
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]['lr'])  # what train_one_epoch trains at
        scheduler.step(epoch)
    return lrs


class OneWeight(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=self.fc(torch.stack(inputs)).pow(2).mean())


class RecordLR(Hook):
    """The lr of every param group at each training step."""

    def __init__(self) -> None:
        self.lrs: List[List[float]] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'])


def runner_lrs(tmp_path: Path, batch_size: int, epochs: int) -> tuple:
    """(lr of each epoch's one step, ``initial_lr``) of a Runner on our schedule file.

    One rank with ``batch_size`` images a step: auto_scale_lr multiplies the lr by
    ``batch_size / 64``, as for ``batch_size / 64`` ranks of 64.
    """
    schedule = Config.fromfile(SCHEDULE)
    record = RecordLR()
    runner = Runner(
        model=OneWeight(), work_dir=str(tmp_path), experiment_name=tmp_path.name, default_scope='mmpretrain',
        log_level='WARNING',
        train_dataloader=dict(dataset=[dict(inputs=torch.ones(1))] * batch_size, batch_size=batch_size,
                              sampler=dict(type='DefaultSampler', shuffle=False), num_workers=0),
        optim_wrapper=schedule.optim_wrapper, param_scheduler=schedule.param_scheduler,
        train_cfg=dict(schedule.train_cfg, max_epochs=epochs, val_interval=epochs + 1),
        auto_scale_lr=schedule.auto_scale_lr, default_hooks=dict(checkpoint=None), custom_hooks=[record])
    runner.train()
    assert all(len(set(group_lrs)) == 1 for group_lrs in record.lrs)  # decay and no-decay groups alike
    # The optimizer's groups: the wrapper adds one for logging ``base_lr``, which scale_lr leaves as it is.
    initial = [group['initial_lr'] for group in runner.optim_wrapper.optimizer.param_groups]
    return [group_lrs[0] for group_lrs in record.lrs], initial


@pytest.mark.parametrize('batch_size,lr,epochs', [(64, 6.25e-5, 60), (128, 1.25e-4, 60), (64, 6.25e-5, 20)])
def test_every_epoch_trains_at_the_authors_rate(tmp_path, batch_size, lr, epochs):
    """1 x 64 and 2 x 64 (as 1 x 128, the same total batch), and a shorter run:
    max_epochs sets the cosine's length, as their --epochs does."""
    ours, initial = runner_lrs(tmp_path, batch_size, epochs)
    # mmengine scales the lr before it builds the schedulers, so the cosine's peak is the scaled lr.
    assert initial and initial == pytest.approx([lr] * len(initial), rel=1e-12)
    theirs = authors_lrs(lr, epochs)
    assert len(ours) == epochs
    assert ours == pytest.approx(theirs, rel=1e-12, abs=0)


def test_hand_checked_values():
    theirs = authors_lrs(6.25e-5, 60)
    # Epochs 0 and 1 at the absolute 1e-6, whatever the scaling; the lag puts the
    # highest rate at epoch 6, timm's t = 5 of a 60-step cosine from 6.25e-5 to 1e-5:
    # 1e-5 + 2.625e-5 * (1 + cos(pi / 12)), cos(pi / 12) = (sqrt(6) + sqrt(2)) / 4.
    assert theirs[0] == theirs[1] == 1e-6 == authors_lrs(1.25e-4, 60)[0]
    assert max(theirs) == theirs[6] == pytest.approx(6.160555294008805e-05, abs=1e-18)
    # Epoch 30 at t = 29: 1e-5 + 2.625e-5 * (1 + sin(pi / 60)).
    assert theirs[30] == pytest.approx(3.762381885137728e-05, abs=1e-18)
    assert theirs[30] == pytest.approx(1e-5 + 2.625e-5 * (1 + math.sin(math.pi / 60)), abs=1e-18)


def test_without_a_length_a_clear_error():
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    with pytest.raises(ValueError, match='TimmCosineLR: give t_initial or end'):
        TimmCosineLR(optimizer, warmup_t=5)


def test_state_loads_with_weights_only_and_resumes_on_schedule(tmp_path):
    """Its state goes into mmengine checkpoints, which mmdoei loads with weights_only=True."""
    def scheduler(lr=6.25e-5):
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        return optimizer, TimmCosineLR(optimizer, warmup_t=5, warmup_lr_init=1e-6, lr_min=1e-5, end=60)

    optimizer, sched = scheduler()
    for _ in range(10):
        optimizer.step()
        sched.step()
    torch.save(sched.state_dict(), tmp_path / 'state.pth')
    sched.step()
    optimizer, resumed = scheduler(lr=1.0)  # the lr comes from the state, as on resume
    resumed.load_state_dict(torch.load(tmp_path / 'state.pth', weights_only=True))
    resumed.step()
    assert optimizer.param_groups[0]['lr'] == sched.get_last_value()[0] == authors_lrs(6.25e-5, 60)[11]
