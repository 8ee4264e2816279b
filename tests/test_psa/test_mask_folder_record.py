"""tools/psa_infer.py into a folder that already holds masks, as a user runs it.

A resumed run scores the whole folder (the number ``eval_seeds.py --pred-dir``
gives for it), not only the masks it wrote, and leaves no temporary file of
the killed run behind; another checkpoint or other random-walk settings are
refused with the differing field and ``--overwrite`` named; ``--overwrite``
recomputes every mask.

All scenarios run in ONE fresh interpreter (``tools/psa_infer.py`` and
``tools/analysis_tools/eval_seeds.py`` through ``runpy``, as ``python
tools/...`` runs them) that prints a JSON of outcomes.
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

from projects.wsss_lab.standin_cams import make_standin_cams
from projects.wsss_lab.synthetic import make_synthetic_voc

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PSA = ROOT / 'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py'
SPLIT = 'ImageSets/Segmentation/train.txt'

SCRIPT = textwrap.dedent('''
    import contextlib, io, json, os, runpy, sys
    from pathlib import Path

    root, psa, data_root, cams, ckpt_a, ckpt_b, tmp, split = sys.argv[1:9]
    out = {}

    def run(path, args):
        sys.argv = [path] + args
        buf, err = io.StringIO(), None
        try:
            with contextlib.redirect_stdout(buf):
                runpy.run_path(f'{root}/{path}', run_name='__main__')
        except SystemExit as e:  # eval_seeds ends with sys.exit(main())
            err = None if e.code in (None, 0) else f'SystemExit: {e.code}'
        except BaseException as e:  # the outcome under test, reported in the JSON
            err = f'{type(e).__name__}: {e}'
        return dict(err=err, stdout=buf.getvalue())

    def infer(name, ckpt, *extra, opts=()):
        return run('tools/psa_infer.py', [psa, ckpt, '--data-root', data_root, '--cam-dir', cams, '--out-dir',
                                          f'{tmp}/masks', '--work-dir', f'{tmp}/work_{name}', *extra,
                                          '--cfg-options', f'test_dataloader.dataset.split={split}', *opts])

    def state():
        folder = Path(f'{tmp}/masks')
        return dict(png={p.name: p.stat().st_mtime_ns for p in folder.glob('*.png')},
                    tmp=[p.name for p in folder.rglob('*.tmp')])

    out['first'] = dict(infer('first', ckpt_a), after=state())
    # as a run killed mid-way leaves it: three masks missing, one half-written temporary file
    names = sorted(out['first']['after']['png'])
    for name in names[:3]:
        os.unlink(f'{tmp}/masks/{name}')
    Path(f'{tmp}/masks/.{names[0]}.k3j9x1.tmp').write_bytes(b'half a PNG')
    out['resume'] = dict(infer('resume', ckpt_a), after=state())
    out['eval_seeds'] = run('tools/analysis_tools/eval_seeds.py',
                            ['--pred-dir', f'{tmp}/masks', '--data-root', data_root, '--split', split,
                             '--out-dir', f'{tmp}/eval', '--no-progress'])
    out['eval_seeds']['report'] = json.loads(Path(f'{tmp}/eval/seed_eval.json').read_text())
    out['other_ckpt'] = dict(infer('other_ckpt', ckpt_b), after=state())
    out['walk'] = dict(infer('walk', ckpt_a, '--no-eval', opts=['model.test_cfg.logt=3']), after=state())
    out['overwrite'] = dict(infer('overwrite', ckpt_b, '--overwrite'), after=state())
    print('RESULT ' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('maskrecord')
    data_root = make_synthetic_voc(tmp / 'voc', num_train=8, num_val=2, img_size=(64, 80), seed=3)
    make_standin_cams(str(data_root), str(tmp / 'cams'), progress=False)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    ckpts = {}
    for seed, name in ((0, 'a'), (1, 'b')):
        torch.manual_seed(seed)
        ckpts[name] = tmp / f'{name}.pth'
        torch.save({'state_dict': MODELS.build(Config.fromfile(str(PSA)).model).state_dict()}, ckpts[name])
    script = tmp / 'scenarios.py'
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(ROOT), str(PSA), str(data_root), str(tmp / 'cams'),
                          str(ckpts['a']), str(ckpts['b']), str(tmp), SPLIT], capture_output=True, text=True,
                         timeout=1800, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = [line for line in res.stdout.splitlines() if line.startswith('RESULT ')]
    assert res.returncode == 0 and lines, (res.stdout + res.stderr)[-5000:]
    sha = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in ckpts.items()}
    return dict(out=json.loads(lines[-1][len('RESULT '):]), tmp=tmp, sha=sha, ckpts=ckpts,
                n=len((data_root / SPLIT).read_text().split()))


def _miou(stdout: str) -> float:
    line = [w for w in stdout.splitlines() if w.startswith('seed/mIoU: ')][-1]
    return float(line.split()[1])


def test_resumed_run_scores_the_whole_folder(runs):
    out, n = runs['out'], runs['n']
    assert out['first']['err'] is None and out['resume']['err'] is None, out['resume']
    assert len(out['resume']['after']['png']) == n
    report = out['eval_seeds']['report']
    assert out['eval_seeds']['err'] is None and report['num_images'] == n
    # the number printed is the folder's, as eval_seeds --pred-dir scores it (the metric rounds to 0.01)
    assert _miou(out['resume']['stdout']) == round(report['mIoU'], 2)
    assert _miou(out['first']['stdout']) == _miou(out['resume']['stdout'])


def test_resumed_run_leaves_no_temporary_file(runs):
    assert runs['out']['resume']['after']['tmp'] == []


def test_another_checkpoint_is_refused(runs):
    r, masks = runs['out']['other_ckpt'], runs['tmp'] / 'masks'
    assert r['err'].startswith(f'OutputConflict: pseudo-mask folder {masks} holds outputs made with other settings')
    assert (f'checkpoint: "{runs["sha"]["a"]}" -> "{runs["sha"]["b"]}" '
            f'(was {runs["ckpts"]["a"]}, now {runs["ckpts"]["b"]})') in r['err']
    assert 'rerun tools/psa_infer.py with --overwrite' in r['err']
    assert r['after'] == runs['out']['resume']['after']


def test_other_walk_settings_are_refused(runs):
    r = runs['out']['walk']
    assert '\n  model.test_cfg.logt: 2 -> 3\n' in r['err'] and '--overwrite' in r['err']
    assert r['after'] == runs['out']['resume']['after']


def test_overwrite_recomputes_every_mask(runs):
    r, before = runs['out']['overwrite'], runs['out']['resume']['after']['png']
    assert r['err'] is None, r['stdout'][-3000:]
    assert sorted(r['after']['png']) == sorted(before)
    assert all(r['after']['png'][k] != before[k] for k in before)
