"""tools/test.py --cam-out into a folder that already holds CAMs, as a user runs it.

A folder is resumed only by a run with the same inputs (its record,
``.mmdoei-record.json``): another checkpoint, ``--no-flip`` or other scales
are refused with the differing field and ``--overwrite`` named; the same
settings compute nothing; ``--overwrite`` recomputes. Overlays are part of an
image's unit of work (written before its CAM file, chosen by dataset order),
so a run killed between the two loses none and a resumed run completes the
one-shot set. A second run into a busy folder stops at once, naming the
first (held after its first CAM file until the second has been refused), which
completes unharmed.

All scenarios run in ONE fresh interpreter (``tools/test.py`` through
``runpy``, as ``python tools/test.py`` runs it) that prints a JSON of
outcomes; each test asserts on its own scenario.
"""
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmdoei.utils.files import read_split
from projects.wsss_lab.synthetic import make_synthetic_voc

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'
# more than the tool's 50 overlay images, so "which images get overlays" is a real choice
NUM = 54

SCRIPT = textwrap.dedent('''
    import glob, json, os, runpy, subprocess, sys, time
    from pathlib import Path
    import numpy as np

    root, config, data_root, ckpt_a, ckpt_b, tmp = sys.argv[1:7]
    out = {}

    def argv(cam_out, ckpt, name, *extra, cfg=()):
        return ['tools/test.py', config, ckpt, '--data-root', data_root, '--work-dir', f'{tmp}/work_{name}',
                '--cam-out', cam_out, *extra, '--cfg-options', f'experiment_name={name}', *cfg]

    A, P, L = f'{tmp}/a', f'{tmp}/p', f'{tmp}/l'

    def tool(name, cam_out, ckpt, *extra, cfg=()):
        sys.argv = argv(cam_out, ckpt, name, *extra, cfg=cfg)
        err = None
        try:
            runpy.run_path(f'{root}/tools/test.py', run_name='__main__')
        except BaseException as e:  # the outcome under test, reported in the JSON
            err = f'{type(e).__name__}: {e}'
        logs = ''.join(Path(p).read_text() for p in glob.glob(f'{tmp}/work_{name}/**/*.log', recursive=True))
        return dict(err=err, log=logs)

    def state(folder):
        folder = Path(folder)
        return dict(npz={p.name: p.stat().st_mtime_ns for p in folder.glob('*.npz')},
                    overlays={p.name: p.stat().st_mtime_ns for p in (folder / 'overlays').glob('*.png')},
                    tmp=[str(p) for p in folder.rglob('*.tmp')])

    def cams(folder):
        return {p.name: np.load(p, allow_pickle=False)['cams'] for p in Path(folder).glob('*.npz')}

    out['oneshot'] = dict(tool('oneshot', A, ckpt_a, '--overlay'), before=state(A))
    out['same'] = dict(tool('same', A, ckpt_a, '--overlay'), after=state(A))
    out['other_ckpt'] = dict(tool('other_ckpt', A, ckpt_b, '--overlay'), after=state(A))
    out['no_flip'] = dict(tool('no_flip', A, ckpt_a, '--overlay', '--no-flip'), after=state(A))
    out['scales'] = dict(tool('scales', A, ckpt_a, '--overlay', '--scales', '1.0', '0.5'), after=state(A))
    # the classifier's input normalisation (top-level data_preprocessor) and the CAM images' decoder
    out['mean'] = dict(tool('mean', A, ckpt_a, '--overlay', cfg=['data_preprocessor.mean=[0,0,0]']), after=state(A))
    out['decoder'] = dict(tool('decoder', A, ckpt_a, '--overlay',
                               cfg=['cam_dataloader.dataset.pipeline.0.imdecode_backend=cv2']), after=state(A))

    # killed right after the 4th image's CAM file is written
    import mmdoei.engine.loops as loops
    real_save_cam, calls = loops.save_cam, []

    def dying_save_cam(*args, **kwargs):
        real_save_cam(*args, **kwargs)
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError('simulated kill after a CAM file')

    loops.save_cam = dying_save_cam
    out['crash'] = dict(tool('crash', P, ckpt_a, '--overlay'), after=state(P))
    loops.save_cam = real_save_cam
    out['resume'] = dict(tool('resume', P, ckpt_a, '--overlay'), after=state(P))
    a, p = cams(A), cams(P)
    out['resume']['same_cams'] = sorted(a) == sorted(p) and all(np.array_equal(a[k], p[k]) for k in a)

    os.makedirs(f'{A}/seed_eval', exist_ok=True)
    Path(f'{A}/seed_eval/seed_eval.json').write_text('{}')
    Path(f'{A}/notes.txt').write_text('mine')
    out['overwrite'] = dict(tool('overwrite', A, ckpt_b, '--overlay', '--overwrite'), after=state(A),
                            seed_eval=os.path.exists(f'{A}/seed_eval'), notes=os.path.exists(f'{A}/notes.txt'),
                            record=(json.loads(Path(f'{A}/.mmdoei-record.json').read_text())
                                    if os.path.exists(f'{A}/.mmdoei-record.json') else None))

    # two runs at once. The first is another process; after its first CAM file it waits until the
    # second run is over (the file `go` appears), so it is certainly still running then, holding the
    # folder (a second run that waited for the folder instead of refusing would see it only after the
    # first gave up waiting, 300 s later).
    go = f'{tmp}/go'
    first = subprocess.Popen([sys.executable, '-c',
                              'import os, runpy, sys, time; import mmdoei.engine.loops as l\\n'
                              's, go, parent = l.save_cam, sys.argv[1], os.getppid()\\n'
                              'def wait_for(path, limit):\\n'
                              '    start = time.time()\\n'
                              '    while not os.path.exists(path):\\n'
                              '        assert os.getppid() == parent, "the scenario script is gone"\\n'
                              '        assert time.time() - start < limit, f"no {path} after {limit} s"\\n'
                              '        time.sleep(0.05)\\n'
                              'def held(*a, **k):\\n'
                              '    s(*a, **k)\\n'
                              '    wait_for(go, 300)\\n'
                              'l.save_cam = held\\n'
                              'sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name="__main__")',
                              go, f'{root}/tools/test.py', *argv(L, ckpt_a, 'first')[1:]],
                             stdout=subprocess.DEVNULL, stderr=open(f'{tmp}/first.err', 'w'))
    start = time.time()
    while not glob.glob(f'{L}/*.npz') and first.poll() is None and time.time() - start < 600:
        time.sleep(0.05)
    out['second'] = tool('second', L, ckpt_a)
    out['second']['first_running'] = first.poll() is None
    Path(go).touch()
    out['second']['first_pid'] = first.pid
    out['second']['first_rc'] = first.wait()
    out['second']['first_err'] = Path(f'{tmp}/first.err').read_text()[-3000:]
    out['second']['after'] = state(L)
    print('RESULT ' + json.dumps(out))
''')


def _checkpoint(path: Path, seed: int) -> Path:
    cfg = Config.fromfile(str(CONFIG))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('camrecord')
    data_root = make_synthetic_voc(tmp / 'voc', num_train=NUM, num_val=2, img_size=(48, 64))
    ckpt_a, ckpt_b = _checkpoint(tmp / 'a.pth', 0), _checkpoint(tmp / 'b.pth', 1)
    script = tmp / 'scenarios.py'
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(ROOT), str(CONFIG), str(data_root), str(ckpt_a),
                          str(ckpt_b), str(tmp)], capture_output=True, text=True, timeout=1800, cwd=ROOT,
                         env=dict(os.environ, PYTHONUNBUFFERED='1'))
    lines = [line for line in res.stdout.splitlines() if line.startswith('RESULT ')]
    assert res.returncode == 0 and lines, (res.stdout + res.stderr)[-5000:]
    ids = read_split(str(data_root / 'ImageSets/Segmentation/train_aug.txt'))
    sha = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in (('a', ckpt_a), ('b', ckpt_b))}
    return dict(out=json.loads(lines[-1][len('RESULT '):]), tmp=tmp, ids=ids, ckpt_a=ckpt_a, ckpt_b=ckpt_b, sha=sha)


def test_one_shot_run_writes_overlays_of_the_first_images(runs):
    r = runs['out']['oneshot']
    assert r['err'] is None, r['log'][-3000:]
    assert f'0 of {NUM} images already done' in r['log']
    ids = runs['ids']
    assert len(ids) == NUM and sorted(r['before']['npz']) == sorted(f'{i}.npz' for i in ids)
    assert {name.rsplit('_', 1)[0] for name in r['before']['overlays']} == set(ids[:50])


def test_same_settings_compute_nothing(runs):
    r, before = runs['out']['same'], runs['out']['oneshot']['before']
    assert r['err'] is None, r['log'][-3000:]
    assert f'{NUM} of {NUM} images already done' in r['log']
    assert r['after'] == before  # every CAM file and overlay untouched (mtimes)


def test_another_checkpoint_is_refused(runs):
    r, a = runs['out']['other_ckpt'], runs['tmp'] / 'a'
    assert r['err'].startswith(f'OutputConflict: CAM folder {a} holds outputs made with other settings')
    assert (f'checkpoint: "{runs["sha"]["a"]}" -> "{runs["sha"]["b"]}" '
            f'(was {runs["ckpt_a"]}, now {runs["ckpt_b"]})') in r['err']
    assert 'rerun tools/test.py --cam-out with --overwrite' in r['err']
    assert r['after'] == runs['out']['oneshot']['before']


def test_no_flip_is_refused(runs):
    r = runs['out']['no_flip']
    assert r['err'].startswith(f'OutputConflict: CAM folder {runs["tmp"] / "a"} holds outputs made with other settings')
    assert '\n  protocol.flip: true -> false\n' in r['err'] and '--overwrite' in r['err']
    assert r['after'] == runs['out']['oneshot']['before']


def test_other_scales_are_refused(runs):
    r = runs['out']['scales']
    assert '\n  protocol.scales: [1.0] -> [1.0,0.5]\n' in r['err'] and '--overwrite' in r['err']
    assert r['after'] == runs['out']['oneshot']['before']


def test_another_preprocessor_mean_is_refused(runs):
    r = runs['out']['mean']
    assert r['err'].startswith(f'OutputConflict: CAM folder {runs["tmp"] / "a"} holds outputs made with other settings')
    assert '\n  preprocessor.mean: [123.675,116.28,103.53] -> [0.0,0.0,0.0]\n' in r['err'], r['err']
    assert '--overwrite' in r['err']
    assert r['after'] == runs['out']['oneshot']['before']


def test_another_cam_image_decoder_is_refused(runs):
    r = runs['out']['decoder']
    assert '\n  dataset.pipeline: [{"imdecode_backend":"pillow","type":"LoadImageFromFile"},' in r['err'], r['err']
    assert '-> [{"imdecode_backend":"cv2","type":"LoadImageFromFile"},' in r['err'] and '--overwrite' in r['err']
    assert r['after'] == runs['out']['oneshot']['before']


def test_a_kill_after_a_cam_file_loses_no_overlay(runs):
    r, ids = runs['out']['crash'], runs['ids']
    assert r['err'] == 'RuntimeError: simulated kill after a CAM file'
    done = sorted(name[:-4] for name in r['after']['npz'])
    assert done == sorted(ids[:4])
    # every image with a CAM file has its overlays, the one killed after its CAM file included
    assert {name.rsplit('_', 1)[0] for name in r['after']['overlays']} == set(done)


def test_resumed_run_completes_the_one_shot_overlay_set(runs):
    r = runs['out']['resume']
    assert r['err'] is None, r['log'][-3000:]
    assert f'4 of {NUM} images already done' in r['log']
    assert sorted(r['after']['overlays']) == sorted(runs['out']['oneshot']['before']['overlays'])
    assert r['same_cams'] and r['after']['tmp'] == []


def test_overwrite_recomputes_and_deletes_only_cam_outputs(runs):
    r, before = runs['out']['overwrite'], runs['out']['oneshot']['before']
    assert r['err'] is None, r['log'][-3000:]
    assert f'0 of {NUM} images already done' in r['log'] and '--overwrite' in r['log']
    assert sorted(r['after']['npz']) == sorted(before['npz'])
    assert all(r['after']['npz'][k] != before['npz'][k] for k in before['npz'])
    assert r['record'] is not None and r['record']['fields']['checkpoint'] == runs['sha']['b']
    assert not r['seed_eval'] and r['notes']  # the old report is gone; a file of the user's is not


def test_a_second_run_into_a_busy_folder_stops_at_once(runs):
    r, folder = runs['out']['second'], runs['tmp'] / 'l'
    assert r['first_running']  # the refusal came while the first run was writing
    assert r['err'].startswith(f'LockedError: CAM folder {folder} is in use by another run (host ')
    assert f' pid {r["first_pid"]}, lock file {folder}/.mmdoei.lock)' in r['err']
    assert r['first_rc'] == 0, r['first_err']
    assert len(r['after']['npz']) == NUM and r['after']['tmp'] == []
