"""tools/run_pipeline.py and tools/demo.py as a user runs them, when they must refuse (issue 24).

One fresh interpreter, started once for the module (under a memory cap: one
scenario is an 8 GB record file), runs every scenario through the tools'
``main`` with a user's argv and prints one JSON line of outcomes (exit
status, stderr, what is left on disk). Each scenario stops before anything
trains: a second run into a work directory or demo folder another run holds
(a plain process holding the lock, as a running tool does), a symbolically
linked stage folder under ``--overwrite``, a hand-edited record, an
oversized record, a training folder of unknown origin. Every refusal exits
with status 2 and its message, no traceback, and changes nothing.
"""
import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/demo/mctformer-v2_vit-4l128_synthetic-64.py'
#: Address-space cap of the scenarios' interpreter: far below the 8 GB record (torch and mmdoei fit).
MEMORY_CAP = 5 * 2**30

# Holds a lock file as a running tool does (mmdoei.utils.locks writes "host H pid P"), until stdin closes.
HOLDER = r'''
import fcntl, os, socket, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, f'host {socket.gethostname()} pid {os.getpid()}\n'.encode())
print('held', flush=True)
sys.stdin.read()
'''

SCENARIOS = r'''
import contextlib, io, json, runpy, sys, traceback
from pathlib import Path
args = json.loads(sys.argv[1])
pipeline_tool = runpy.run_path('tools/run_pipeline.py', run_name='run_pipeline')
demo_tool = runpy.run_path('tools/demo.py', run_name='demo')


def outcome(fn):
    err = io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stderr(err):
            fn()
    except SystemExit as e:
        code = e.code
    except BaseException as e:  # the outcome is the point: the tests compare it with the expected refusal
        code = f'{type(e).__name__}: {e}'
        err.write(traceback.format_exc())
    return dict(code=code, stderr=err.getvalue())


def run_pipeline(work, *more):
    return outcome(lambda: pipeline_tool['main']([args['config'], '--tiny', '--data-root', args['data'],
                                                   '--work-dir', work, *more]))


def run_demo(out):
    def go():
        sys.argv = ['tools/demo.py', '--model', 'mctformer-v2', '--from-scratch', '--num-train', '8',
                    '--out-dir', out, '--no-cpu-pin']
        demo_tool['main']()
    return outcome(go)


out = {}
# a finished stage-1 record of this very run, its results emptied by hand (needs the fingerprint: mmdoei's own)
from mmdoei.apis import pipeline
edited = Path(args['edited'])
psa, seg = (str(pipeline.REPO_ROOT / c) for c in pipeline.DEFAULT_CONFIGS['tiny'])
pipe = pipeline.WSSSPipeline('baseline', str(Path(args['config']).resolve()), edited / 'baseline',
                             str(Path(args['data']).resolve()), psa, seg)
pipe.step('stage1_train').finish({})
out['locked'] = run_pipeline(args['locked'], '--overwrite')
out['symlink'] = run_pipeline(args['symlink'], '--overwrite')
out['edited'] = run_pipeline(str(edited))
out['big_record'] = run_pipeline(args['big_record'])
out['demo_locked'] = run_demo(args['demo_locked'])
out['demo_refusal'] = run_demo(args['demo_refusal'])
print('OUTCOMES ' + json.dumps(out))
'''


def stage_folders(work: Path, elsewhere: Path) -> dict:
    """A work directory whose stage 1 was made from other inputs, its stage3/ linked to ``elsewhere``."""
    base = work / 'baseline'
    (base / '.done').mkdir(parents=True)
    (base / '.done/stage1_train.json').write_text(json.dumps(dict(
        format=1, kind='pipeline.stage1_train', fingerprint='0' * 64, fields=dict(other=1), notes={},
        results=dict(checkpoint=str(base / 'stage1/epoch_1.pth'), seconds=1.0))))
    (base / 'stage1').mkdir()
    (base / 'stage1/epoch_1.pth').write_bytes(b'weights')
    elsewhere.mkdir()
    (elsewhere / 'iter_1.pth').write_bytes(b'precious')
    (base / 'stage3').symlink_to(elsewhere)
    return snapshot(work, elsewhere)


def snapshot(*folders: Path) -> dict:
    return {str(p): p.read_bytes().hex() for f in folders for p in sorted(f.rglob('*'))
            if p.is_file() and p.name != '.mmdoei.lock'}


def cap_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.fixture(scope='module')
def runs(tmp_path_factory, synthetic_voc):
    tmp = tmp_path_factory.mktemp('refusals')
    paths = {k: tmp / k for k in ('locked', 'symlink', 'edited', 'big_record', 'demo_locked', 'demo_refusal')}
    before = {k: stage_folders(paths[k], tmp / f'{k}_elsewhere') for k in ('locked', 'symlink')}
    record = paths['big_record'] / 'baseline/.done/stage1_train.json'
    record.parent.mkdir(parents=True)
    with open(record, 'wb') as f:
        f.truncate(8 * 2**30)  # sparse: no disk, no memory
    for k in ('demo_locked', 'demo_refusal'):
        train = paths[k] / 'from_scratch/mctformer-v2'
        train.mkdir(parents=True)
        (train / 'epoch_1.pth').write_bytes(b'someone else\'s')
    holders = {}
    try:
        for k in ('locked', 'demo_locked'):
            holders[k] = subprocess.Popen([sys.executable, '-c', HOLDER, str(paths[k] / '.mmdoei.lock')],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert holders[k].stdout.readline() == 'held\n'
        args = dict({k: str(v) for k, v in paths.items()}, config=CONFIG, data=str(synthetic_voc))
        res = subprocess.run([sys.executable, '-c', SCENARIOS, json.dumps(args)], cwd=ROOT, env=os.environ,
                             capture_output=True, text=True, timeout=900, preexec_fn=cap_memory)
    finally:
        for holder in holders.values():
            holder.stdin.close()
            holder.wait(timeout=30)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (line, ) = [ln for ln in res.stdout.splitlines() if ln.startswith('OUTCOMES ')]
    return dict(json.loads(line[len('OUTCOMES '):]), paths=paths, tmp=tmp, before=before,
                holders={k: h.pid for k, h in holders.items()})


def refused(outcome: dict, message: str) -> None:
    """Exit status 2 and the message alone on stderr (as argparse's parser.error), no traceback."""
    assert (outcome['code'], outcome['stderr']) == (2, message + '\n'), outcome


@pytest.mark.slow
def test_a_second_pipeline_run_into_a_held_work_dir_stops_at_once_and_changes_nothing(runs):
    """Two runs into one --work-dir trained at once; an --overwrite run deleted the other's records."""
    work = runs['paths']['locked']
    refused(runs['locked'], f'run_pipeline.py: error: pipeline work directory {work} is in use by another run '
            f'(host {socket.gethostname()} pid {runs["holders"]["locked"]}, lock file {work}/.mmdoei.lock); wait '
            'for it to finish, or write elsewhere')
    assert snapshot(work, runs['tmp'] / 'locked_elsewhere') == runs['before']['locked']


@pytest.mark.slow
def test_overwrite_with_a_symlinked_stage_folder_is_refused_naming_it_before_anything_is_deleted(runs):
    base = runs['paths']['symlink'] / 'baseline'
    elsewhere = runs['tmp'] / 'symlink_elsewhere'
    refused(runs['symlink'], f'run_pipeline.py: error: the seg_train stage (stage3/) in {base}: {base}/stage3 is a '
            f'symbolic link (to {elsewhere}), and its outputs are not deleted through it. Nothing was deleted: '
            'replace the link by a folder (or write elsewhere) and rerun.')
    assert snapshot(runs['paths']['symlink'], elsewhere) == runs['before']['symlink']


@pytest.mark.slow
def test_a_hand_edited_record_is_refused_naming_it(runs):
    record = runs['paths']['edited'] / 'baseline/.done/stage1_train.json'
    refused(runs['edited'], f'run_pipeline.py: error: {record}: not a readable mmdoei output record (finished, but '
            'its results lack checkpoint, seconds, which the stage1_train stage hands on); delete it, or rerun with '
            '--from-stage stage1_train (from_stage in run_pipeline) to redo that stage and the ones after it')


@pytest.mark.slow
def test_an_8gb_record_is_refused_naming_it_without_reading_it(runs):
    record = runs['paths']['big_record'] / 'baseline/.done/stage1_train.json'
    refused(runs['big_record'], f'run_pipeline.py: error: {record}: not a readable mmdoei output record (ValueError: '
            f'{8 * 2**30} bytes, more than a record holds ({4 * 2**20}); not read); delete it, and the outputs it '
            'described, to start this folder again')


@pytest.mark.slow
def test_a_second_demo_into_a_held_out_dir_stops_at_once(runs):
    out = runs['paths']['demo_locked']
    refused(runs['demo_locked'], f'demo.py: error: demo output folder {out} is in use by another run (host '
            f'{socket.gethostname()} pid {runs["holders"]["demo_locked"]}, lock file {out}/.mmdoei.lock); wait for '
            'it to finish, or write elsewhere')
    assert not (out / 'data').exists()  # stopped before the data set


@pytest.mark.slow
def test_a_demo_refusal_exits_2_with_its_message_only(runs):
    train = runs['paths']['demo_refusal'] / 'from_scratch/mctformer-v2'
    refused(runs['demo_refusal'], f'demo.py: error: training folder {train} holds outputs (epoch_1.pth) but no '
            '.mmdoei-record.json saying what made them (an older mmdoei, or files put there by hand), so they cannot '
            'be trusted to match this run\nNothing was reused or changed. Write elsewhere, or rerun with --overwrite '
            '(overwrite=True in the API) to delete its outputs and start again.')
    assert (train / 'epoch_1.pth').read_bytes() == b"someone else's"


@pytest.mark.slow
@pytest.mark.dist
def test_under_torchrun_every_rank_stops_with_the_held_work_dirs_message(tmp_path, synthetic_voc, free_port):
    """Only rank 0 takes the work directory's lock; it shares the outcome, so rank 1 stops with the same
    message instead of waiting in a barrier for ever (two CPU ranks, gloo)."""
    work = tmp_path / 'work'
    work.mkdir()
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(work / '.mmdoei.lock')], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == 'held\n'
        res = subprocess.run(
            [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', free_port,
             'tools/run_pipeline.py', CONFIG, '--tiny', '--data-root', str(synthetic_voc), '--work-dir', str(work),
             '--launcher', 'pytorch'], cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=600)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    message = (f'run_pipeline.py: error: pipeline work directory {work} is in use by another run (host '
               f'{socket.gethostname()} pid {holder.pid}, lock file {work}/.mmdoei.lock); wait for it to finish, '
               'or write elsewhere')
    # both ranks print it; their newlines may come after both messages (two processes share one stderr)
    assert res.returncode != 0 and res.stderr.count(message) == 2, res.stdout[-3000:] + res.stderr[-3000:]
    # the first rank to stop exits 2 (torchrun then stops the other); torchrun prints its own traceback,
    # the ranks none (no frame of the tool, no exception name)
    assert 'failed (exitcode: 2)' in res.stderr, res.stderr
    assert 'run_pipeline.py", line' not in res.stderr and 'LockedError' not in res.stderr, res.stderr
