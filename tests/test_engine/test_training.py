"""Runner-level behaviour on the CPU: resume after a kill, torchrun with 2 processes,
and checkpoints loaded with weights_only=True only."""
import io
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mmdoei  # noqa: F401  registers everything

# Runner checkpoints are read here with torch.load(weights_only=True), as the tools do after setup_env().
pytestmark = pytest.mark.usefixtures('mmdoei_setup_env')

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests/data/configs/tiny_vit_doei.py'


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """128 images, 32 batches of 4: the whole run is one pass. At the end of each pass over the data
    mmengine's iteration-based loop sleeps 2 s before restarting the loader (16 images made that
    15 sleeps in 30 iterations)."""
    root = tmp_path_factory.mktemp('tiny')
    rng = np.random.default_rng(0)
    for c, colour in enumerate(([200, 30, 30], [30, 30, 200])):
        (root / f'class{c}').mkdir()
        for i in range(64):
            img = np.clip(rng.normal(colour, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / f'class{c}' / f'{i}.png')
    return root


def _train_cmd(work_dir, data_root, *extra):
    return [sys.executable, str(ROOT / 'tools/train.py'), str(CONFIG), '--work-dir', str(work_dir),
            '--cfg-options', f'train_dataloader.dataset.data_root={data_root}', *extra]


@pytest.mark.slow
def test_resume_after_kill(tmp_path, image_folder, kill_on_line):
    work = tmp_path / 'work'
    # killed at the log line of iteration 25, after the second checkpoint (iter_20.pth) was saved
    at = re.compile(r'\(train\) (\[\d+\])?\[ *25/')
    kill_on_line(_train_cmd(work, image_folder), lambda line: at.search(line) is not None)
    assert not (work / 'iter_400.pth').exists()
    saved = max(int(p.stem.split('_')[1]) for p in work.glob('iter_*.pth'))
    # The checkpoint holds mmengine's HistoryBuffer and numpy state: weights_only must load it.
    ckpt = torch.load(work / f'iter_{saved}.pth', weights_only=True)
    assert ckpt['meta']['iter'] == saved

    # resumed to the end of a shortened schedule: one more checkpoint after the one it resumed from
    out = subprocess.run(_train_cmd(work, image_folder, '--resume', '--cfg-options',
                                    'train_cfg.max_iters=30'),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert f'resumed epoch: 0, iter: {saved}' in log
    assert (work / 'iter_30.pth').exists()
    assert torch.load(work / 'iter_30.pth', weights_only=True)['meta']['iter'] == 30


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(mct_two_rank_run):
    """tools/dist_train.sh with 2 CPU ranks: gloo, and a checkpoint that loads with weights_only.

    Asserted on the session's one 2-rank training (conftest's ``mct_two_rank_run``, which
    tests/test_engine/test_mct_dist_train.py checks for a falling loss): a torchrun run of
    its own here would pay two more ranks' imports for the same lines."""
    log, work = mct_two_rank_run['log'], mct_two_rank_run['work']
    assert mct_two_rank_run['returncode'] == 0, log[-3000:]
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert torch.load(work / 'epoch_4.pth', weights_only=True)['meta']['epoch'] == 4


def test_weights_only_refuses_other_getattr():
    from mmengine.logging.history_buffer import HistoryBuffer

    class Evil:
        def __reduce__(self):
            return getattr, (HistoryBuffer, '__init__')

    buf = io.BytesIO()
    torch.save({'x': Evil()}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=r"getattr\(<class .*HistoryBuffer'>, '__init__'\), "
                                                     'which mmdoei does not allow'):
        torch.load(buf, weights_only=True)


def test_one_cycle_scheduler_state_loads_and_its_class_cannot_be_called():
    from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = OneCycleParamScheduler(opt, 'lr', eta_max=0.1, total_steps=10)
    buf = io.BytesIO()
    torch.save({'param_schedulers': [sched.state_dict()]}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)['param_schedulers'][0]
    assert state['anneal_func'] is OneCycleParamScheduler._annealing_cos

    class CallsTheClass:
        def __reduce__(self):
            return OneCycleParamScheduler, (None, 'lr')

    buf = io.BytesIO()
    torch.save(CallsTheClass(), buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match='tries to call OneCycleParamScheduler'):
        torch.load(buf, weights_only=True)
