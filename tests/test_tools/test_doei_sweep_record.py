"""The DOEI sweep folder is a step (issue 24): its record says what made the rows.

A rerun into the same --out-dir with other settings that decide the numbers
(--epochs, --num-train, --cfg-options, another --pretrained file) used to keep
the old rows and mix them with new ones; a sweep.csv without a record (an
older sweep) was adopted as if checked; a row whose stored resolved DOEI
setting is not what its run name means today was counted as done. Every
scenario runs in ONE fresh interpreter, as a user runs the tool (a fake
runner in place of training, as in test_doei_effect.py), and prints its
outcomes as JSON; each test asserts on one of them.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py'
MODEL = 'mctformer-v2_vit-6l128-pre_synthetic-64'
OTHER = 'configs/demo/tscam_vit-6l128-pre_synthetic-64.py'
HINT = ("Nothing was reused or changed: rerun with --overwrite (it deletes sweep.csv, summary.md and the plots; "
        "the runs' training folders stay and are checked on their own), or pass another --out-dir.")

SCRIPT = r'''
import contextlib, hashlib, io, json, runpy, shutil, sys
from pathlib import Path
tool = runpy.run_path('tools/analysis_tools/doei_sweep.py', run_name='doei_sweep')
from projects.wsss_lab.sweep import read_rows, rows_to_csv
tmp, config, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
(tmp / 'a.pth').write_bytes(b'backbone a')
(tmp / 'b.pth').write_bytes(b'backbone b')
out, legacy = tmp / 'out', tmp / 'legacy'
BASE = [config, '--axis', 'sf=0.0', '--mode', 'cam', '--seeds', '0', '--pretrained', str(tmp / 'a.pth')]
results = {}


def state(folder):
    """Every file's sha256 (the lock file aside: left in place by design)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob('*')) if p.is_file() and p.name != '.mmdoei.lock'}


def sweep(name, argv, folder=out):
    calls, text, error = [], io.StringIO(), None

    def run_one(spec):
        calls.append([spec['model'], spec['dataset'], spec['mode'], spec['run']['run'], spec['seed']])
        return dict(mIoU=40.0, FP=30.0, FN=20.0, best_threshold=0.3, seconds=1.0, class_iou={})

    before = state(folder) if folder.exists() else None
    with contextlib.redirect_stdout(text):
        try:
            tool['main'](argv + ['--out-dir', str(folder)], run_one=run_one)
        except ValueError as e:
            error = str(e)
    after = state(folder) if folder.exists() else None
    csv = folder / 'sweep.csv'
    record = folder / '.mmdoei-record.json'
    results[name] = dict(calls=calls, error=error, stdout=text.getvalue(), unchanged=before == after,
                         rows=len(read_rows(csv.read_text())) if csv.exists() else None,
                         record=json.loads(record.read_text())['fields'] if record.exists() else None)


sweep('first', BASE)
sweep('same', BASE)
sweep('epochs', BASE + ['--epochs', '2'])
sweep('num_train', BASE + ['--num-train', '200'])
sweep('cfg_options', BASE + ['--cfg-options', 'train_dataloader.batch_size=4'])
sweep('pretrained', BASE[:-1] + [str(tmp / 'b.pth')])
sweep('plan_changed', BASE + ['--epochs', '2', '--plan'])
sweep('overwrite', BASE + ['--epochs', '2', '--overwrite'])
sweep('after_overwrite', BASE + ['--epochs', '2'])
# doei_effect.sh's way: other configs and data sets added to one folder, each with its own entries
sweep('other_model', [other] + BASE[1:])
sweep('other_dataset', BASE + ['--epochs', '2', '--dataset', 'demo', 'heldout'])
# a row whose stored resolved setting is not what its run name resolves to today (the DOEI defaults changed)
rows = read_rows((out / 'sweep.csv').read_text())
for r in rows:
    if r['model'] == 'mctformer-v2_vit-6l128-pre_synthetic-64' and r['run'] == 'base' and r['dataset'] == 'demo':
        old = json.loads(r['doei'])
        r['doei'] = json.dumps(dict(old, alpha=0.5), sort_keys=True)
(out / 'sweep.csv').write_text(rows_to_csv(rows))
sweep('stale', BASE + ['--epochs', '2'])
sweep('stale_overwrite', BASE + ['--epochs', '2', '--overwrite'])
# a sweep folder written before the record existed
legacy.mkdir()
shutil.copy(out / 'sweep.csv', legacy / 'sweep.csv')
sweep('legacy', BASE, legacy)
sweep('legacy_plan', BASE + ['--plan'], legacy)
sweep('legacy_overwrite', BASE + ['--overwrite'], legacy)
print('RESULT ' + json.dumps(results))
'''


@pytest.fixture(scope='module')
def outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('sweeprec')
    res = subprocess.run([sys.executable, '-c', SCRIPT, str(tmp), CONFIG, OTHER], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith('RESULT ')]
    assert res.returncode == 0 and lines, (res.stdout[-3000:], res.stderr[-3000:])
    return json.loads(lines[-1][len('RESULT '):]), tmp


def _refusal(tmp, *lines, folder='out'):
    return (f'DOEI sweep folder {tmp / folder} holds rows made with other settings (old -> new):\n  '
            + '\n  '.join(lines) + '\n' + HINT)


@pytest.mark.slow
def test_a_rerun_with_the_same_settings_recomputes_nothing(outcome):
    r = outcome[0]
    assert len(r['first']['calls']) == 3 and r['first']['rows'] == 3
    record = r['first']['record']
    assert record[f'model {MODEL}']['epochs'] is None
    assert record[f'model {MODEL}']['config']['train_dataloader']['batch_size'] == 32
    assert record['data demo'] == dict(style='demo', num_train=400)
    assert set(record[f'backbones {MODEL}']) == {'--pretrained'}
    assert r['same']['calls'] == [] and r['same']['error'] is None and r['same']['unchanged']
    assert '3 settings x 1 seeds x 1 backbones x 1 data set(s) x 1 mode(s): 0 runs to do, 3 done' in r['same']['stdout']


@pytest.mark.slow
@pytest.mark.parametrize('case, line', [
    ('epochs', 'model {model}.epochs: null -> 2'),
    ('num_train', 'data demo.num_train: 400 -> 200'),
    ('cfg_options', 'model {model}.config.train_dataloader.batch_size: 32 -> 4'),
    ('pretrained', 'backbones {model}.--pretrained: "{a}" -> "{b}" '
                   "(was {{'--pretrained': '{tmp}/a.pth'}}, now {{'--pretrained': '{tmp}/b.pth'}})"),
], ids=['epochs', 'num_train', 'cfg_options', 'pretrained'])
def test_other_settings_are_refused_before_any_run(outcome, case, line):
    r, tmp = outcome
    a, b = (hashlib.sha256(x).hexdigest() for x in (b'backbone a', b'backbone b'))
    line = line.format(model=MODEL, tmp=tmp, a=a, b=b)  # the backbones' sha256, their paths beside
    assert r[case]['error'] == _refusal(tmp, line)
    assert r[case]['calls'] == [] and r[case]['unchanged']  # nothing ran, nothing written


@pytest.mark.slow
def test_plan_notes_the_refusal_and_writes_nothing(outcome):
    r, tmp = outcome
    plan = r['plan_changed']
    assert plan['calls'] == [] and plan['unchanged'] and plan['error'] is None
    assert plan['stdout'].splitlines()[0] == '[plan] 0 runs to do, about 0 minutes'
    assert ('[plan] note: running this would be refused: '
            + _refusal(tmp, f'model {MODEL}.epochs: null -> 2').replace('\n', '\n[plan]   ')) in plan['stdout']


@pytest.mark.slow
def test_overwrite_starts_afresh_and_then_continues(outcome):
    r = outcome[0]
    assert len(r['overwrite']['calls']) == 3 and r['overwrite']['rows'] == 3  # the old rows are gone
    assert '[sweep] --overwrite: deleting the outputs of' in r['overwrite']['stdout']
    assert r['overwrite']['record'][f'model {MODEL}']['epochs'] == 2
    assert r['after_overwrite']['calls'] == [] and r['after_overwrite']['error'] is None


@pytest.mark.slow
def test_other_configs_and_data_sets_share_the_folder(outcome):
    r = outcome[0]
    tscam = 'tscam_vit-6l128-pre_synthetic-64'
    assert {c[0] for c in r['other_model']['calls']} == {tscam} and len(r['other_model']['calls']) == 3
    assert [c[1] for c in r['other_dataset']['calls']] == ['heldout'] * 3  # the demo rows are done
    record = r['other_dataset']['record']
    assert {k for k in record if k != 'code'} == {f'model {MODEL}', f'backbones {MODEL}', f'model {tscam}',
                                                  f'backbones {tscam}', 'data demo', 'data heldout'}
    assert r['other_dataset']['rows'] == 9


@pytest.mark.slow
def test_a_row_whose_doei_setting_changed_meaning_is_not_done(outcome):
    from mmdoei.doei import DOEIConfig
    r, tmp = outcome
    today = DOEIConfig().to_dict()
    old = json.dumps(dict(today, alpha=0.5), sort_keys=True)
    assert r['stale']['error'] == (
        f'DOEI sweep folder {tmp / "out"} holds rows whose DOEI setting its run name no longer resolves to (the DOEI '
        f"defaults changed), so they are not done:\n  run 'base' ({MODEL} demo pretrain seed -1 cam seed 0): DOEI "
        f'{old} in the CSV, {json.dumps(today, sort_keys=True)} today\n'
        'Nothing was reused or changed: rerun with --overwrite to redo these rows, or pass another --out-dir.')
    assert r['stale']['calls'] == [] and r['stale']['unchanged']
    # --overwrite redoes that row only
    assert r['stale_overwrite']['calls'] == [[MODEL, 'demo', 'cam', 'base', 0]]
    assert '[sweep] --overwrite: redoing 1 rows whose DOEI setting changed meaning' in r['stale_overwrite']['stdout']
    assert r['stale_overwrite']['rows'] == 9


@pytest.mark.slow
def test_a_sweep_folder_without_a_record_is_not_adopted(outcome):
    r, tmp = outcome
    assert r['legacy']['error'] == (
        f'DOEI sweep folder {tmp / "legacy"} holds outputs (sweep.csv) but no record (.mmdoei-record.json) of the '
        'settings that made its rows (a sweep of an older mmdoei, or files put there by hand): they cannot be '
        f'trusted to match this run. {HINT}')
    assert r['legacy']['calls'] == [] and r['legacy']['unchanged'] and r['legacy']['record'] is None
    # --plan still reads it (its rows count as done) and says what a run would do; it writes nothing
    plan = r['legacy_plan']
    assert plan['error'] is None and plan['unchanged'] and plan['record'] is None
    assert plan['stdout'].splitlines()[0] == '[plan] 0 runs to do, about 0 minutes'
    assert '[plan] note: running this would be refused: DOEI sweep folder' in plan['stdout']
    assert len(r['legacy_overwrite']['calls']) == 3 and r['legacy_overwrite']['rows'] == 3
    assert r['legacy_overwrite']['record'][f'model {MODEL}']['epochs'] is None
