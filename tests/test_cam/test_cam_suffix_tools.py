"""Issue 24: the tools that read CAM folders, and the stand-in CAMs, as a user runs them.

- ``tools/analysis_tools/eval_seeds.py --cam-suffix`` scores ``{img_id}_x.npz`` CAMs exactly
  as the same CAMs named ``{img_id}.npz``; ``tools/psa_infer.py --cam-suffix`` walks them; a
  suffix too long for a file name (or not ``.npz``) is refused before the config or any
  file is read, naming the limit;
- ``python -m projects.wsss_lab.standin_cams`` refuses a folder holding CAM files and an
  mmdoei record (they would replace real CAMs the record says a checkpoint made), or a
  record alone, leaving it as it was; a new folder gets its stand-in CAMs.

All scenarios run in ONE fresh interpreter (the tools through ``runpy``, as ``python
tools/...`` runs them) that prints a JSON of outcomes; each test asserts on its own.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from mmdoei.cam.io import MAX_CAM_SUFFIX
from projects.wsss_lab.synthetic import make_synthetic_voc

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PSA = ROOT / 'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py'
SPLIT = 'ImageSets/Segmentation/train.txt'
LONG = 'x' * 296 + '.npz'  # 300 characters: with an image id, more than a file name's 255 bytes

SCRIPT = textwrap.dedent('''
    import contextlib, hashlib, io, json, os, runpy, shutil, sys
    from pathlib import Path

    root, psa, data_root, ckpt, tmp, split, long_suffix = sys.argv[1:8]
    # `python -m projects.wsss_lab.standin_cams` from the repository root has the root on sys.path; a script does not
    sys.path.insert(0, root)
    out = {}

    def run(args, path=None, module=None):
        sys.argv = [path or module] + args
        buf, err = io.StringIO(), None
        try:
            with contextlib.redirect_stdout(buf):
                if module:
                    runpy.run_module(module, run_name='__main__', alter_sys=True)
                else:
                    runpy.run_path(f'{root}/{path}', run_name='__main__')
        except SystemExit as e:  # eval_seeds ends with sys.exit(main()); refusals exit with their message
            err = None if e.code in (None, 0) else f'SystemExit: {e.code}'
        except BaseException as e:  # the outcome under test, reported in the JSON
            err = f'{type(e).__name__}: {e}'
        return dict(err=err, stdout=buf.getvalue()[-3000:])

    def listing(folder):
        folder = Path(folder)
        if not folder.is_dir():
            return None
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}

    def standin(out_dir):
        return run([data_root, '--out-dir', out_dir], module='projects.wsss_lab.standin_cams')

    def eval_seeds(out_dir, *extra):
        return run([*extra, '--data-root', data_root, '--split', split, '--out-dir', out_dir, '--no-progress'],
                   path='tools/analysis_tools/eval_seeds.py')

    def report(folder):
        path = Path(folder, 'seed_eval.json')
        return json.loads(path.read_text()) if path.exists() else None

    import mmdoei  # noqa: F401  what a user imports

    S, X = f'{tmp}/cams', f'{tmp}/cams_x'
    out['standin_new'] = dict(standin(S), files=sorted(listing(S) or {}))
    # the same CAMs as a CAM run with cam_suffix='_x.npz' names them
    os.makedirs(X)
    for p in Path(S).glob('*.npz'):
        shutil.copyfile(p, f'{X}/{p.name[:-4]}_x.npz')

    out['eval_plain'] = dict(eval_seeds(f'{tmp}/e_plain', '--cam-dir', S), report=report(f'{tmp}/e_plain'))
    out['eval_suffix'] = dict(eval_seeds(f'{tmp}/e_x', '--cam-dir', X, '--cam-suffix', '_x.npz'),
                              report=report(f'{tmp}/e_x'))
    out['eval_long'] = dict(eval_seeds(f'{tmp}/e_long', '--cam-dir', X, '--cam-suffix', long_suffix),
                            out_dir=os.path.exists(f'{tmp}/e_long'))
    out['eval_not_npz'] = dict(eval_seeds(f'{tmp}/e_cam', '--cam-dir', X, '--cam-suffix', '_x.cam'),
                               out_dir=os.path.exists(f'{tmp}/e_cam'))
    out['eval_pred'] = dict(eval_seeds(f'{tmp}/e_pred', '--pred-dir', X, '--cam-suffix', '_x.npz'),
                            out_dir=os.path.exists(f'{tmp}/e_pred'))

    def infer(name, cam_dir, *extra, config=psa):
        return run([config, ckpt, '--data-root', data_root, '--cam-dir', cam_dir, '--out-dir', f'{tmp}/{name}',
                    '--work-dir', f'{tmp}/work_{name}', '--no-eval', *extra,
                    '--cfg-options', f'test_dataloader.dataset.split={split}'], path='tools/psa_infer.py')

    # a config that does not exist: the suffix is refused before the config is read
    out['psa_long'] = dict(infer('m_long', X, '--cam-suffix', long_suffix, config=f'{tmp}/no_such_config.py'),
                           out_dir=os.path.exists(f'{tmp}/m_long'))
    out['psa_suffix'] = dict(infer('m_x', X, '--cam-suffix', '_x.npz'), masks=sorted(listing(f'{tmp}/m_x') or {}))
    out['psa_default'] = dict(infer('m_default', X), out_dir=os.path.exists(f'{tmp}/m_default'))

    # a CAM folder as the CAM stage leaves it: CAM files and the record saying what made them
    from mmdoei.utils.record import OutputRecord, write_record
    R = f'{tmp}/recorded'
    shutil.copytree(X, R)
    write_record(R, OutputRecord('cams', dict(checkpoint='a' * 64, cam_suffix='_x.npz')))
    before = listing(R)
    result = standin(R)
    after = {k: v for k, v in listing(R).items() if k != '.mmdoei.lock'}  # the lock file stays, by design
    out['standin_recorded'] = dict(result, unchanged=after == before, files=sorted(listing(R)))
    os.makedirs(f'{tmp}/record_only')
    write_record(f'{tmp}/record_only', OutputRecord('cams', dict(checkpoint='a' * 64)))
    out['standin_record_only'] = dict(standin(f'{tmp}/record_only'), files=sorted(listing(f'{tmp}/record_only')))
    print('RESULT ' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('camsuffix')
    data_root = make_synthetic_voc(tmp / 'voc', num_train=4, num_val=1, img_size=(64, 80), seed=3)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    ckpt = tmp / 'psa.pth'
    torch.save({'state_dict': MODELS.build(Config.fromfile(str(PSA)).model).state_dict()}, ckpt)
    script = tmp / 'scenarios.py'
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(ROOT), str(PSA), str(data_root), str(ckpt), str(tmp),
                          SPLIT, LONG], capture_output=True, text=True, timeout=1200, cwd=ROOT,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = [line for line in res.stdout.splitlines() if line.startswith('RESULT ')]
    assert res.returncode == 0 and lines, (res.stdout + res.stderr)[-5000:]
    ids = (data_root / SPLIT).read_text().split()
    aug = (data_root / 'ImageSets/Segmentation/train_aug.txt').read_text().split()
    return dict(out=json.loads(lines[-1][len('RESULT '):]), tmp=tmp, ids=ids, aug=aug)


LONG_ERROR = (f'cam_suffix is 300 bytes long, more than the limit of {MAX_CAM_SUFFIX} (with the image id it names a '
              "file, which most file systems limit to 255 bytes), got 'xxxxxxxxxxxxxxxxxxxxxxxx'...")


def test_a_new_folder_gets_stand_in_cams(runs):
    r = runs['out']['standin_new']
    assert r['err'] is None, r
    assert r['files'] == ['.mmdoei.lock'] + sorted(f'{i}.npz' for i in runs['aug'])  # the lock held while writing


def test_eval_seeds_scores_cams_of_another_suffix_as_the_same_cams_named_npz(runs):
    plain, x = runs['out']['eval_plain'], runs['out']['eval_suffix']
    assert plain['err'] is None and x['err'] is None, (plain, x)
    assert x['report']['num_images'] == plain['report']['num_images'] == len(runs['ids'])
    assert x['report']['mIoU'] == plain['report']['mIoU'] and x['report']['best_threshold'] == \
        plain['report']['best_threshold']


def test_eval_seeds_refuses_a_bad_suffix_before_any_work(runs):
    r = runs['out']['eval_long']
    assert r['err'] == f'SystemExit: --cam-suffix: {LONG_ERROR}' and r['out_dir'] is False, r
    r = runs['out']['eval_not_npz']
    assert r['err'] == ("SystemExit: --cam-suffix: cam_suffix must end with '.npz' and name a file in the CAM folder "
                        "(a CAM file is an npz archive; CAM folders are handled as *.npz), got '_x.cam'"), r
    assert r['out_dir'] is False
    r = runs['out']['eval_pred']
    assert r['err'] == 'SystemExit: --cam-suffix is for CAM files (--cam-dir); --pred-dir reads {img_id}.png', r
    assert r['out_dir'] is False


def test_psa_infer_refuses_a_long_suffix_before_reading_the_config(runs):
    r = runs['out']['psa_long']
    assert r['err'] == f'SystemExit: --cam-suffix: {LONG_ERROR}' and r['out_dir'] is False, r


def test_psa_infer_walks_cams_of_another_suffix(runs):
    r = runs['out']['psa_suffix']
    assert r['err'] is None, r
    assert r['masks'] == sorted(['.mmdoei-record.json', '.mmdoei.lock'] + [f'{i}.png' for i in runs['ids']])
    # without --cam-suffix the same folder is read as {img_id}.npz: refused before the mask folder is made
    r, x = runs['out']['psa_default'], runs['tmp'] / 'cams_x'
    n = len(runs['ids'])
    assert r['err'].startswith(f'ValueError: {n} of {n} CAM files in {x} are unusable:\n  {x}/{runs["ids"][0]}.npz: '
                               'CAM file does not exist'), r
    assert r['out_dir'] is False


def test_stand_in_cams_refuse_a_recorded_cam_folder(runs):
    r, folder = runs['out']['standin_recorded'], runs['tmp'] / 'recorded'
    first = sorted(f'{i}_x.npz' for i in runs['aug'])
    assert r['err'] == (f'SystemExit: stand-in CAM folder {folder} already holds .mmdoei-record.json, {first[0]}, '
                        f'{first[1]} and {len(first) - 2} more (CAM files or an mmdoei record): stand-in CAMs would '
                        'replace CAMs that a record may say a checkpoint made. Nothing was written; give a new or '
                        'empty --out-dir.'), r
    assert r['unchanged'] is True
    assert r['files'] == sorted(['.mmdoei-record.json', '.mmdoei.lock'] + first)  # no {img_id}.npz added


def test_stand_in_cams_refuse_a_folder_holding_a_record_alone(runs):
    r, folder = runs['out']['standin_record_only'], runs['tmp'] / 'record_only'
    assert r['err'] == (f'SystemExit: stand-in CAM folder {folder} already holds .mmdoei-record.json (CAM files or '
                        'an mmdoei record): stand-in CAMs would replace CAMs that a record may say a checkpoint '
                        'made. Nothing was written; give a new or empty --out-dir.'), r
    assert r['files'] == ['.mmdoei-record.json', '.mmdoei.lock']
