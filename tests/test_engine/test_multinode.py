"""Two machines simulated on one: every distributed stage gives one process's results.

Each "machine" is its own ``torchrun --nnodes 2 --nproc-per-node 1`` agent,
started separately and meeting only through a c10d rendezvous on
127.0.0.1, as two hosts would (see :func:`run_two_nodes` for why c10d rather
than a static ``--node-rank``). Both workers have ``LOCAL_RANK`` 0 and
``LOCAL_WORLD_SIZE`` 1, so code that took the local rank for the global one, or
assumed that the first process started is rank 0, fails here. The runs share
one output folder, as nodes share a cluster file system.

- CAM generation (``tools/test.py --cam-out``), pseudo masks
  (``tools/psa_infer.py``) and the DeepLab ms+flip+CRF test (``tools/test.py``)
  must write byte-identical files, and the same metrics, as one process.
- Stage-1 training on 2 ranks at batch 4 must follow 1 rank at batch 8: the
  same sampler seed makes the two ranks' batches (every other index of one
  shuffled list) together the single rank's batch, the random augmentations
  are switched off, and the tiny MCTformer has LayerNorm only (no batch
  statistics), so DDP's averaged gradient is the full batch's gradient.
  mmengine logs each rank's own loss (rank 0's into ``scalars.json``), so the
  full-batch loss is the mean of both ranks' logged losses.

The Slurm tests at the end run the same stages through ``tools/slurm_*.sh``
on a one-node Slurm cluster started by a fixture and compare with these runs.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings
from PIL import Image

# The checkpoints are compared with torch.load(weights_only=True), as after the tools' setup_env.
pytestmark = [pytest.mark.dist, pytest.mark.slow, pytest.mark.usefixtures('mmdoei_setup_env')]

ROOT = Path(__file__).resolve().parents[2]
MCT = ROOT / 'tests/data/configs/tiny_mct_voc.py'
PSA = ROOT / 'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py'
SEG = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'
NUM_TRAIN = 30  # conftest's synthetic_voc; divisible by the batch: no padded batch
BATCH = 10
NUM_TEST = 7  # segmentation test images: 2 ranks get 4 + 4, one image twice
EPOCHS = 2  # 6 iterations; the second epoch checks that both reshuffle alike
TIMEOUT = 600
LR = 1e-3  # tests/data/configs/tiny_mct_voc.py's

# Deterministic training: DeiT-style random crop and flip off (the crop becomes a
# plain resize to 64 x 64), one log row per iteration, unsmoothed and
# with enough digits to compare; DEBUG makes every rank write its own text log,
# the only place mmengine puts rank 1's loss.
TRAIN_OPTIONS = ['train_dataloader.dataset.pipeline.1.type=Resize', 'train_dataloader.dataset.pipeline.2.prob=0.',
                 f'train_cfg.max_epochs={EPOCHS}', 'default_hooks.logger.interval=1', 'log_processor.window_size=1',
                 'log_processor.num_digits=10', 'default_hooks.checkpoint.interval=1', 'log_level=DEBUG']


_PORTS_GIVEN = set()


def free_port() -> int:
    """A port nobody listens on now (bind to port 0 and let the OS choose), never the same twice."""
    while True:
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def tool_env(**extra: str) -> Dict[str, str]:
    """The environment of a tool run: this worktree's mmdoei, one thread per process."""
    path = os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', **extra)


Job = List[Tuple[subprocess.Popen, Path]]


def start(cmd: Sequence[str], log: Path, **env: str) -> Job:
    """Start ``cmd`` in a session of its own (so a timeout can end all it started), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'w') as f:
        proc = subprocess.Popen(list(cmd), stdout=f, stderr=subprocess.STDOUT, env=tool_env(**env), cwd=ROOT,
                                start_new_session=True)
    return [(proc, log)]


def start_single(tool: str, *args: str, log_dir: Path) -> Job:
    """``python tools/TOOL args`` in one process."""
    return start([sys.executable, str(ROOT / 'tools' / tool), *args], log_dir / 'single.log')


def start_two_nodes(tool: str, *args: str, log_dir: Path) -> Job:
    """``tools/TOOL args --launcher pytorch`` on 2 simulated machines of 1 process each.

    Two torchrun agents started independently, as on two hosts, with c10d
    rendezvous: the node ranks are not given but agreed at the rendezvous (the
    agent that reaches the endpoint first hosts the store), which is how
    torchrun is meant to be used across machines. A static ``--node-rank`` /
    ``--master-addr`` launch would also start two agents, but would fix in
    advance which one is rank 0; c10d also exercises that nothing depends on
    that.
    """
    port, rdzv_id = free_port(), uuid.uuid4().hex[:8]
    return [job for node in range(2) for job in start(
        [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc-per-node', '1',
         '--rdzv-backend', 'c10d', '--rdzv-endpoint', f'127.0.0.1:{port}', '--rdzv-id', rdzv_id,
         '--local-addr', '127.0.0.1', '--max-restarts', '0', str(ROOT / 'tools' / tool), *args,
         '--launcher', 'pytorch'], log_dir / f'node{node}.log')]


def finish(*jobs: Job) -> List[str]:
    """Wait for the jobs (they run side by side); assert each exited with 0; their outputs, joined per job."""
    procs = [pair for job in jobs for pair in job]
    deadline = time.monotonic() + TIMEOUT
    try:
        for proc, _ in procs:
            proc.wait(timeout=max(1., deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for proc, log in procs:
        assert proc.returncode == 0, f'{proc.args} failed (exit {proc.returncode}):\n{log.read_text()[-4000:]}'
    return ['\n'.join(log.read_text() for _, log in job) for job in jobs]


def read_tree(folder: Path, pattern: str = '*') -> Dict[str, bytes]:
    """``{relative path: bytes}`` of the output files under ``folder`` matching ``pattern`` (not the
    hidden lock and record files, which name the process and the paths of each run)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob(pattern))
            if p.is_file() and not p.name.startswith('.')}


def assert_same_files(single: Dict[str, bytes], dist: Dict[str, bytes], expected: int) -> None:
    assert len(single) == expected, sorted(single)
    assert sorted(dist) == sorted(single)
    differ = [name for name in single if dist[name] != single[name]]
    assert not differ, f'{len(differ)} of {len(single)} files differ, e.g. {differ[:3]}'


def iteration_losses(work_dir: Path) -> List[float]:
    """Per-iteration training losses of rank 0, from mmengine's ``vis_data/scalars.json``."""
    (path, ) = work_dir.glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if 'loss' in r]
    assert [r['step'] for r in rows] == list(range(1, len(rows) + 1)), rows
    return [r['loss'] for r in rows]


def rank_log_losses(work_dir: Path, rank: int) -> List[float]:
    """Per-iteration losses of one rank, from the text log every rank writes at DEBUG level."""
    (path, ) = work_dir.glob(f'*/*_rank{rank}.log')
    return [float(x) for x in re.findall(r'Epoch\(train\) +\[\d+\]\[ *\d+/\d+\].*? loss: ([0-9.]+)',
                                         path.read_text())]


def logged_test_metrics(work_dir: Path) -> dict:
    """The metrics ``tools/test.py`` logged into ``work_dir/{timestamp}/{timestamp}.json``."""
    (path, ) = [p for p in work_dir.glob('*/*.json') if p.stem == p.parent.name]
    return json.loads(path.read_text())


def init_checkpoint(config: Path, path: Path) -> Path:
    """A checkpoint of ``config``'s freshly initialised model (seeded): enough to compare runs."""
    cfg = Config.fromfile(str(config))
    import_modules_from_strings(**cfg.get('custom_imports', dict(imports=['mmdoei'])))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


@pytest.fixture(scope='module')
def data(synthetic_voc) -> Path:
    """conftest's 48 x 64 synthetic VOC-layout set (30 train, 10 val images), read only."""
    return synthetic_voc


@pytest.fixture(scope='module')
def trained(data, tmp_path_factory) -> Dict[str, Path]:
    """Stage 1 trained by 1 process at batch 8 and by 2 simulated nodes at batch 4 each."""
    root = tmp_path_factory.mktemp('train')
    common = ['--data-root', str(data)]
    single = start_single('train.py', str(MCT), *common, '--work-dir', str(root / 'single'), '--cfg-options',
                          f'train_dataloader.batch_size={BATCH}', *TRAIN_OPTIONS, log_dir=root / 'logs')
    two_nodes = start_two_nodes('train.py', str(MCT), *common, '--work-dir', str(root / 'dist'), '--cfg-options',
                                f'train_dataloader.batch_size={BATCH // 2}', *TRAIN_OPTIONS, log_dir=root / 'logs')
    _, dist = finish(single, two_nodes)
    assert 'Distributed launcher: pytorch' in dist and 'GPU number: 2' in dist, dist[-3000:]
    return dict(single=root / 'single', dist=root / 'dist')


def test_two_nodes_at_half_batch_train_like_one_process(trained):
    iters = EPOCHS * NUM_TRAIN // BATCH
    single = iteration_losses(trained['single'])
    rank0 = iteration_losses(trained['dist'])
    rank1 = rank_log_losses(trained['dist'], 1)
    assert len(single) == len(rank0) == len(rank1) == iters, (single, rank0, rank1)
    # The text log agrees with scalars.json where both exist (rank 0).
    np.testing.assert_allclose(rank_log_losses(trained['dist'], 0), rank0, rtol=1e-9)
    full = (np.array(rank0) + np.array(rank1)) / 2
    np.testing.assert_allclose(full, single, rtol=1e-5, atol=1e-7)
    assert not np.allclose(rank0, single, rtol=1e-3)  # each rank really saw half of the batch
    assert single[-1] < single[0]  # it trained
    # The parameters followed the same path too: every epoch's checkpoint matches. Except the
    # key biases: softmax ignores a constant added to a row's logits, so their gradient is 0 up
    # to round-off, which AdamW normalises into steps of up to lr in a direction that differs
    # from run to run. They may drift apart by at most lr per iteration (measured: 3e-5).
    for epoch in range(1, EPOCHS + 1):
        a = torch.load(trained['single'] / f'epoch_{epoch}.pth', map_location='cpu', weights_only=True)
        b = torch.load(trained['dist'] / f'epoch_{epoch}.pth', map_location='cpu', weights_only=True)
        assert a['state_dict'].keys() == b['state_dict'].keys()
        for name, value in a['state_dict'].items():
            other = b['state_dict'][name]
            if name.endswith('attn.qkv.bias'):
                dims = value.numel() // 3
                key = slice(dims, 2 * dims)
                assert (other[key] - value[key]).abs().max() <= LR * iters, name
                value, other = value[[*range(dims), *range(2 * dims, 3 * dims)]], other[
                    [*range(dims), *range(2 * dims, 3 * dims)]]
            torch.testing.assert_close(other, value, rtol=1e-4, atol=1e-6, msg=name)


@pytest.fixture(scope='module')
def cams(data, trained, tmp_path_factory) -> Dict[str, Path]:
    """CAMs of the single-process checkpoint, by 1 process and by 2 simulated nodes."""
    root = tmp_path_factory.mktemp('cams')
    ckpt = str(trained['single'] / f'epoch_{EPOCHS}.pth')
    args = {name: [str(MCT), ckpt, '--data-root', str(data), '--work-dir', str(root / f'{name}_work'),
                   '--cam-out', str(root / name)] for name in ('single', 'dist')}
    finish(start_single('test.py', *args['single'], log_dir=root / 'logs'),
           start_two_nodes('test.py', *args['dist'], log_dir=root / 'logs'))
    return dict(root=root, ckpt=Path(ckpt), single=root / 'single', dist=root / 'dist')


def test_two_nodes_write_the_cams_of_one_process(cams):
    single, dist = read_tree(cams['single']), read_tree(cams['dist'])
    assert_same_files(single, dist, NUM_TRAIN)
    with np.load(cams['single'] / sorted(single)[0], allow_pickle=False) as f:
        assert f['cams'].ndim == 3 and f['cams'].std() > 0  # real maps, not constants


def test_two_nodes_write_the_pseudo_masks_of_one_process(data, cams, tmp_path):
    # Stage 2 from the stage-1 CAMs above, with a seeded untrained AffinityNet.
    ckpt = init_checkpoint(PSA, tmp_path / 'affnet.pth')
    args = {name: [str(PSA), str(ckpt), '--data-root', str(data), '--cam-dir', str(cams['single']),
                   '--out-dir', str(tmp_path / name), '--work-dir', str(tmp_path / f'{name}_work')]
            for name in ('single', 'dist')}
    logs = dict(zip(('single', 'dist'), finish(start_single('psa_infer.py', *args['single'], log_dir=tmp_path),
                                               start_two_nodes('psa_infer.py', *args['dist'], log_dir=tmp_path))))
    outs = {name: read_tree(tmp_path / name) for name in logs}
    metrics = {name: re.findall(r'^seed/mIoU: .*$', log, re.M) for name, log in logs.items()}
    assert_same_files(outs['single'], outs['dist'], NUM_TRAIN)
    assert len(metrics['single']) == 1 and metrics['dist'] and set(metrics['dist']) == set(metrics['single']), metrics
    labels = set()
    for png in outs['single']:
        with Image.open(tmp_path / 'single' / png) as img:
            labels |= set(np.unique(np.asarray(img)).tolist())
    assert len(labels) > 2, labels  # masks with objects in them


SEG_WRITER = """_base_ = ['{base}']
test_evaluator = [{{{{_base_.test_evaluator}}}}, dict(type='VOCServerWriter', out_dir='{out}', comp='comp6')]
"""


def seg_test_args(config: Path, ckpt: Path, data: Path, out: Path) -> List[str]:
    """``tools/test.py`` arguments that test ``config`` and write its predictions to ``out``.

    ``--tta`` runs the config's ms+flip+CRF test; the predictions come out
    through the VOC-server writer (the ``*_voc12test`` configs' evaluator), next
    to the config's IoU metric (``--metrics-out`` holds only the metrics, which are
    compared too).
    """
    cfg_file = out.parent / f'{out.name}_cfg.py'
    cfg_file.write_text(SEG_WRITER.format(base=config, out=out))
    return [str(cfg_file), str(ckpt), '--tta', '--data-root', str(data), '--work-dir', f'{out}_work',
            '--cfg-options', f'test_dataloader.dataset.indices={NUM_TEST}']


def seg_test_outputs(out: Path) -> Tuple[Dict[str, bytes], dict]:
    """``({prediction file: bytes}, metrics)`` of a test run with :func:`seg_test_args`."""
    files = read_tree(out, '*.png')
    with tarfile.open(out / 'results.tgz') as tar:  # its members, not its bytes (mtimes)
        packed = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert sorted(packed) == sorted(files) and all(packed[k] == files[k] for k in files), sorted(packed)
    return files, logged_test_metrics(Path(f'{out}_work'))


def test_two_nodes_segment_like_one_process(data, tmp_path):
    # 7 test images: the ranks get 4 + 4, one image twice, which neither the metrics nor the files may show.
    ckpt = init_checkpoint(SEG, tmp_path / 'deeplab.pth')
    finish(start_single('test.py', *seg_test_args(SEG, ckpt, data, tmp_path / 'single'), log_dir=tmp_path),
           start_two_nodes('test.py', *seg_test_args(SEG, ckpt, data, tmp_path / 'dist'), log_dir=tmp_path))
    single_files, single = seg_test_outputs(tmp_path / 'single')
    dist_files, dist = seg_test_outputs(tmp_path / 'dist')
    assert_same_files(single_files, dist_files, NUM_TEST)
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert dist[key] == single[key], (key, single, dist)
    labels = set()
    for png in single_files:
        with Image.open(tmp_path / 'single' / png) as img:
            labels |= set(np.unique(np.asarray(img)).tolist())
    assert len(labels) > 1, labels  # not one class everywhere


# --- Slurm --------------------------------------------------------------------------------------
SLURM_BINARIES = ('munged', 'slurmctld', 'slurmd', 'srun', 'sinfo', 'scontrol')
SLURM_INSTALL = ('Slurm is not installed (missing: {}). The Slurm tests start a one-node cluster of their '
                 'own and need Debian\'s slurmctld, slurmd, slurm-client and munge: run '
                 '`MMDOEI_INSTALL_SLURM=1 bash tools/install.sh` as root (CI=true does the same), or '
                 '`apt-get install slurmctld slurmd slurm-client munge`.')
# CPUs=4 on this 2-core machine (config_overrides lets slurmd believe it): the test's two 2-task
# jobs then run side by side instead of one waiting for the other.
SLURM_CONF = """ClusterName=mmdoeitest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge.socket
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def slurm_binary(name: str) -> str:
    """Path of a Slurm / munge program (the daemons live in sbin, which a user's PATH may lack)."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin']))


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    """A one-node Slurm cluster on localhost: munged, slurmctld and slurmd as this test's processes.

    Everything lives in a temporary folder (a generated munge key and
    slurm.conf, state, spool, logs) on free ports; yields the environment
    (``SLURM_CONF``) that points ``srun`` at it.
    """
    missing = [name for name in SLURM_BINARIES if slurm_binary(name) is None]
    if missing:
        pytest.fail(SLURM_INSTALL.format(', '.join(missing)), pytrace=False)
    d = tmp_path_factory.mktemp('slurm')
    for sub in ('state', 'spool'):
        (d / sub).mkdir()
    key = d / 'munge.key'
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = d / 'slurm.conf'
    conf.write_text(SLURM_CONF.format(d=d, ctld_port=free_port(), d_port=free_port()))
    env = dict(SLURM_CONF=str(conf))
    daemons = []

    def daemon(name: str, *args: str) -> None:
        daemons.extend(start([slurm_binary(name), *args], d / f'{name}.out', **env))

    def logs() -> str:
        return '\n'.join(f'--- {p.name}\n' + p.read_text()[-1500:] for p in sorted(d.glob('*.out')) + sorted(
            d.glob('*.log')))

    try:
        # --force: munged refuses a key and socket under /tmp otherwise (world-writable parents).
        daemon('munged', '--foreground', '--force', f'--socket={d}/munge.socket', f'--key-file={key}',
               f'--log-file={d}/munged.log', f'--pid-file={d}/munged.pid', f'--seed-file={d}/munged.seed')
        deadline = time.monotonic() + 30
        while not (d / 'munge.socket').exists():
            assert time.monotonic() < deadline and daemons[0][0].poll() is None, f'munged did not start\n{logs()}'
            time.sleep(0.1)
        daemon('slurmctld', '-D', '-i', '-f', str(conf))
        daemon('slurmd', '-D', '-N', 'localhost', '-f', str(conf))
        deadline = time.monotonic() + 60
        state = ''
        while state != 'idle':
            assert time.monotonic() < deadline and all(p.poll() is None for p, _ in daemons), \
                f'the Slurm node did not come up (state {state!r})\n{logs()}'
            time.sleep(0.5)
            res = subprocess.run([slurm_binary('sinfo'), '-h', '-n', 'localhost', '-o', '%t'], capture_output=True,
                                 text=True, env=tool_env(**env))
            state = res.stdout.strip()
        yield dict(env=env, logs=logs)
    finally:
        for proc, _ in reversed(daemons):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the daemon's own session: slurmctld's helper too
        for proc, _ in reversed(daemons):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_slurm(slurm: dict, script: str, *args: str, log: Path) -> Job:
    """``tools/SCRIPT debug JOB args`` with 2 tasks on the CPU (no --gres), as a user would run it."""
    return start(['bash', str(ROOT / 'tools' / script), 'debug', f'mmdoei-{log.stem}', *args], log,
                 GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1', GRES='', MASTER_PORT=str(free_port()),
                 PYTHON=sys.executable, **slurm['env'])


def test_slurm_trains_and_makes_cams_like_torchrun(slurm, data, trained, cams, tmp_path):
    """Stage-1 training and CAM generation through tools/slurm_*.sh on a real (one-node) Slurm."""
    work, out = tmp_path / 'train', tmp_path / 'cams'
    log, _ = finish(
        start_slurm(slurm, 'slurm_train.sh', str(MCT), str(work), '--data-root', str(data), '--cfg-options',
                    f'train_dataloader.batch_size={BATCH // 2}', *TRAIN_OPTIONS, log=tmp_path / 'train.log'),
        start_slurm(slurm, 'slurm_test.sh', str(MCT), str(cams['ckpt']), '--data-root', str(data), '--work-dir',
                    str(tmp_path / 'cam_work'), '--cam-out', str(out), log=tmp_path / 'cams.log'))
    assert re.search(r'srun -p debug --job-name=mmdoei-train --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 ',
                     log), log
    assert 'Distributed launcher: slurm' in log and 'GPU number: 2' in log, log[-3000:]
    # Same world size, same batches, same arithmetic: the torchrun run's losses and weights, bit for bit.
    assert iteration_losses(work) == iteration_losses(trained['dist'])
    assert rank_log_losses(work, 1) == rank_log_losses(trained['dist'], 1)
    a = torch.load(work / f'epoch_{EPOCHS}.pth', map_location='cpu', weights_only=True)['state_dict']
    b = torch.load(trained['dist'] / f'epoch_{EPOCHS}.pth', map_location='cpu', weights_only=True)['state_dict']
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in b)

    # Same checkpoint: the torchrun run's CAM files.
    assert_same_files(read_tree(cams['dist']), read_tree(out), NUM_TRAIN)
