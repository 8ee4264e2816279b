"""mmdoei's CPU fix for mmengine's Slurm launcher: gloo and no set_device without a GPU, the
GPU path untouched. (A real srun run is in test_multinode.py.)"""
import mmengine.dist.utils as dist_utils
import pytest
import torch
import torch.distributed as torch_dist

from mmdoei.utils import compat

# Applied by `import mmdoei` here; main has made it explicit (setup_env).
(getattr(compat, 'setup_env', None) or compat.apply)()

SLURM_ENV = dict(SLURM_PROCID='3', SLURM_NTASKS='4', SLURM_NODELIST='node[1-2]', SLURM_LOCALID='1',
                 MASTER_ADDR='10.1.2.3', MASTER_PORT='29123')


@pytest.fixture
def calls(monkeypatch):
    """Record set_device and init_process_group instead of running them."""
    seen = dict(set_device=[], init=[])
    monkeypatch.setattr(torch.cuda, 'set_device', lambda device: seen['set_device'].append(device))
    monkeypatch.setattr(torch_dist, 'init_process_group', lambda backend, **kw: seen['init'].append((backend, kw)))
    # mmengine's slurm init writes these into os.environ; setting each first makes
    # monkeypatch restore it (a plain delenv of an absent key records nothing), so no
    # LOCAL_RANK leaks into later tests (the safe downloader reads it).
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.setenv(key, '')
        monkeypatch.delenv(key)
    for key, value in SLURM_ENV.items():
        monkeypatch.setenv(key, value)
    return seen


def test_slurm_on_the_cpu_uses_gloo_and_no_device(calls, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    recorder = torch.cuda.set_device
    dist_utils._init_dist_slurm('nccl', timeout=5)
    assert calls['init'] == [('gloo', dict(timeout=5))]
    assert calls['set_device'] == []
    assert torch.cuda.set_device is recorder  # put back after the call
    env = {k: dist_utils.os.environ[k] for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')}
    assert env == dict(RANK='3', WORLD_SIZE='4', LOCAL_RANK='1', MASTER_ADDR='10.1.2.3', MASTER_PORT='29123')


def test_slurm_with_a_gpu_is_mmengines(calls, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    dist_utils._init_dist_slurm('nccl', port=29999)
    assert calls['init'] == [('nccl', {})]
    assert calls['set_device'] == [1]
    assert dist_utils.os.environ['MASTER_PORT'] == '29999'
