"""Shared fixtures: tiny synthetic datasets in the real VOC / COCO layouts.

Session scoped and read-only: a test that damages files copies the folder
first (see ``voc_copy``).
"""
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Callable, List

import pytest
from hypothesis import HealthCheck, settings

from projects.wsss_lab.synthetic import make_synthetic_coco, make_synthetic_voc

# One fixed hypothesis profile for every run (CI and local): the same examples
# each time (derandomize), a bounded number of them, no example database
# (nothing written into the repository), no per-example deadline (a shared
# 2-core machine makes timings meaningless).
settings.register_profile('mmdoei', derandomize=True, max_examples=60, deadline=None, database=None,
                          print_blob=False, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile('mmdoei')

VOC_KW = dict(num_train=30, num_val=10, img_size=(48, 64), seed=0)


@pytest.fixture(scope='session')
def mmdoei_setup_env():
    """:func:`mmdoei.setup_env`, for the tests that do what the tools do after calling it.

    Requested explicitly (never autouse), by the modules that launch Runners
    with ``launcher='pytorch'``/``'slurm'`` in-process or ``torch.load`` Runner
    checkpoints with ``weights_only=True`` themselves: anything else runs as in
    a user's notebook, where ``import mmdoei`` alone must be enough (an autouse
    call here once hid that loading a checkpoint needed it). Not undone: the
    patches stay for the rest of the session, as in a tool's process.
    """
    from mmdoei.utils import setup_env
    setup_env()


@pytest.fixture(scope='session')
def synthetic_voc(tmp_path_factory):
    """``data_root`` (the ``VOC2012`` folder) of a 40-image 48x64 VOC-layout set."""
    return make_synthetic_voc(tmp_path_factory.mktemp('synthetic_voc'), **VOC_KW)


@pytest.fixture(scope='session')
def synthetic_coco(tmp_path_factory):
    """``data_root`` of a 30-image 48x64 COCO-2014-layout set."""
    return make_synthetic_coco(
        tmp_path_factory.mktemp('synthetic_coco'), num_train=20, num_val=10, img_size=(48, 64), seed=0)


@pytest.fixture
def voc_copy(synthetic_voc, tmp_path):
    """A private copy of the synthetic VOC set that a test may damage."""
    return shutil.copytree(synthetic_voc, tmp_path / 'VOC2012')


@pytest.fixture
def coco_copy(synthetic_coco, tmp_path):
    """A private copy of the synthetic COCO set that a test may damage."""
    return shutil.copytree(synthetic_coco, tmp_path / 'coco')


@pytest.fixture(scope='session')
def tiny_pretrained(tmp_path_factory):
    """A checkpoint of the real pretraining config after one short epoch on a
    5-class, 15-image procedural set: the format and shapes of the cached
    backbone the demo configs initialise from."""
    import tiny_pretraining

    from mmdoei.apis.pretrain import PRETRAIN_CONFIG, pretrain_backbone
    tmp = tmp_path_factory.mktemp('pretrain')
    out = tmp / 'vit.pth'
    config = str(Path(__file__).resolve().parents[1] / PRETRAIN_CONFIG)
    pretrain_backbone(config, str(out), data_root=str(tmp / 'procedural'), work_dir=str(tmp / 'work'),
                      cfg_options=tiny_pretraining.CFG_OPTIONS, data_options=tiny_pretraining.DATA_OPTIONS)
    return out


@pytest.fixture(scope='session')
def mct_two_rank_run(tmp_path_factory) -> dict:
    """One ``tools/dist_train.sh`` run of tests/data/configs/tiny_mct_voc.py on 2 CPU ranks (torchrun,
    gloo): 4 epochs on 48 synthetic 64 x 64 images, batch 4 a rank, a log row every 3 iterations.

    Created on first use and shared, read only: each 2-rank run pays two fresh interpreters'
    imports, so the tests that assert on a torchrun training (tests/test_engine/test_training.py,
    test_mct_dist_train.py) read this one. ``returncode`` and ``log`` (stdout + stderr) are
    returned, not asserted, so each test reports the failure itself."""
    import socket
    root = Path(__file__).resolve().parents[1]
    tmp = tmp_path_factory.mktemp('mct_two_ranks')
    data_root = make_synthetic_voc(tmp / 'voc', num_train=48, num_val=8, img_size=(64, 64))
    work = tmp / 'work'
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = str(s.getsockname()[1])
    res = subprocess.run(
        ['bash', str(root / 'tools/dist_train.sh'), str(root / 'tests/data/configs/tiny_mct_voc.py'), '2',
         '--data-root', str(data_root), '--work-dir', str(work), '--cfg-options', 'train_dataloader.batch_size=4',
         'train_cfg.max_epochs=4', 'default_hooks.logger.interval=3'],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, PORT=port))
    return dict(returncode=res.returncode, log=res.stdout + res.stderr, work=work, data_root=data_root)


@pytest.fixture
def free_port() -> str:
    """A TCP port nobody listens on now (the OS picks it), for a torchrun master.

    A port derived from the process id can collide with another run's."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


#: A run under kill_on_line that hangs is killed after this long (a watchdog,
#: not a deadline for reaching the kill point).
WATCHDOG_S = 1800


def run_until_line(cmd: List[str], ready: Callable[[str], bool], **popen_kw) -> str:
    """Start ``cmd`` in its own process group, read its output line by line
    (blocking: no sleeps, no deadlines, so a busy machine only makes it
    slower) and SIGKILL the group at the first line for which ``ready(line)``
    is true; ``ready`` may also look at the files the run wrote. Fails if the
    run ends first. Returns the output read."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **popen_kw)
    watchdog = threading.Timer(WATCHDOG_S, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    seen = []
    try:
        for line in proc.stdout:  # text mode: a progress bar's '\r' ends a line too
            seen.append(line)
            if ready(line):
                os.killpg(proc.pid, signal.SIGKILL)
                break
        else:
            pytest.fail('the run ended before the kill point:\n' + ''.join(seen[-40:]))
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, 'the run was not killed'
    return ''.join(seen)


@pytest.fixture
def kill_on_line():
    """:func:`run_until_line`, for the kill-and-resume tests."""
    return run_until_line


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Leave mmengine's current registry scope as the test found it.

    A Runner makes its ``default_scope`` (e.g. mmseg's) the current one for the
    rest of the process, so a later test that builds through the default scope
    would look in the wrong registry, depending on which tests ran before it.
    """
    from mmengine.registry import DefaultScope
    before = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)
