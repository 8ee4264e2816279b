"""DOEI's effect measured with its spread: paired differences, intervals and
the pretraining / fine-tuning split checked by hand; the sweep killed mid-run
resumes without redoing anything and its summary comes from the CSV alone
(fake runs, so this is fast); plots drawn from fake rows; the batch plan."""
import json
import math
import os
import re
import runpy
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from projects.wsss_lab.sweep import (GRIDS, PRESETS, expand_grid, k_curve, nested_variance, paired_summary,
                                     plot_class_iou, plot_k, plot_paired, read_rows, rows_to_csv, summary_markdown,
                                     t_interval)
from projects.wsss_lab.synthetic import SCENES, cooccurring_classes

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools/analysis_tools/doei_sweep.py'
CONFIG = str(ROOT / 'tests/data/configs/tiny_mct_voc.py')
doei_sweep = SimpleNamespace(**runpy.run_path(str(TOOL), run_name='doei_sweep'))
PNG = b'\x89PNG\r\n\x1a\n'


def test_t_interval_and_nested_variance_by_hand():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    mean, lo, hi = t_interval(values)
    # sd = sqrt(60 / 8), se = sd / 3, t(8, .975) = 2.306004
    half = 2.306004 * math.sqrt(60 / 8) / 3
    assert mean == 5 and lo == pytest.approx(5 - half, abs=1e-5) and hi == pytest.approx(5 + half, abs=1e-5)
    # three backbones of three seeds: group means 2, 5, 8
    v = nested_variance({0: [1, 2, 3], 1: [4, 5, 6], 2: [7, 8, 9]})
    # MSB = 3 * (9 + 0 + 9) / 2 = 27, MSW = 6 / 6 = 1, var_between = (27 - 1) / 3
    assert v['ms_between'] == pytest.approx(27) and v['ms_within'] == pytest.approx(1)
    assert v['var_between'] == pytest.approx(26 / 3) and v['var_within'] == pytest.approx(1)
    assert v['share_pretrain'] == pytest.approx((26 / 3) / (26 / 3 + 1))
    # no backbone effect: the between-group mean square is below the within one, clipped to 0
    v = nested_variance({0: [0, 4], 1: [1, 3]})
    assert v['ms_between'] == 0 and v['var_between'] == 0 and v['share_pretrain'] == 0
    # unbalanced: n0 = (5 - (9 + 4) / 5) / 1 = 2.4; means 2 and 6.5, grand 3.8
    v = nested_variance({0: [1, 2, 3], 1: [6, 7]})
    msb = 3 * (2 - 3.8) ** 2 + 2 * (6.5 - 3.8) ** 2
    msw = (2 + .5) / 3
    assert v['ms_between'] == pytest.approx(msb) and v['var_between'] == pytest.approx((msb - msw) / 2.4)
    # one backbone: the split cannot be told
    assert math.isnan(nested_variance({0: [1, 2, 3]})['share_pretrain'])


def _row(pseed, seed, run, miou, fp=40., fn=30., mode='train', dataset='demo', model='m', class_iou=None):
    return dict(model=model, dataset=dataset, pretrain_seed=pseed, run=run, mode=mode,
                param='baseline' if run == 'baseline' else 'base', value='off' if run == 'baseline' else 'base',
                seed=seed, doei=None if run == 'baseline' else {}, mIoU=miou, FP=fp, FN=fn, best_threshold=.3,
                seconds=1.0, class_iou=class_iou or {})


def _three_by_three():
    rows = []
    # baseline 30 everywhere; DOEI's difference 1..9 as (backbone, seed) = (0,0)..(2,2)
    for p in range(3):
        for s in range(3):
            d = 3 * p + s + 1
            rows.append(_row(p, s, 'baseline', 30., class_iou={'person': 20., 'cat': 50.}))
            rows.append(_row(p, s, 'base', 30. + d - 3, fp=40. - d, fn=30. + 1,
                             class_iou={'person': 20. + d, 'cat': 50.}))
    return rows


def test_paired_summary_by_hand():
    rows = _three_by_three()
    # an unpaired DOEI row (its baseline never ran) and another data set's rows change nothing
    rows.append(_row(5, 0, 'base', 99.))
    rows += [_row(0, 0, 'baseline', 10., dataset='heldout'), _row(0, 0, 'base', 11., dataset='heldout')]
    entries = paired_summary(rows)
    assert [(e['dataset'], e['run'], e['n']) for e in entries] == [('demo', 'base', 9), ('heldout', 'base', 1)]
    e = entries[0]
    # differences d - 3 for d = 1..9: mean 2, two lost, one tie, six won
    assert e['mIoU'] == pytest.approx(2) and (e['wins'], e['losses'], e['backbones']) == (6, 2, 3)
    half = 2.306004 * math.sqrt(60 / 8) / 3
    assert e['mIoU_ci'] == pytest.approx((2 - half, 2 + half), abs=1e-5)
    # over the backbones' means (-1, 2, 5): sd 3, t(2, .975) = 4.302653
    half_b = 4.302653 * 3 / math.sqrt(3)
    assert e['mIoU_ci_backbone'] == pytest.approx((2 - half_b, 2 + half_b), abs=1e-5)
    assert e['mIoU_var']['share_pretrain'] == pytest.approx((26 / 3) / (26 / 3 + 1))
    assert e['FP'] == pytest.approx(-5) and e['FN'] == pytest.approx(1) and e['FN_ci'] == (1, 1)
    assert e['class_iou'] == {'person': pytest.approx(5), 'cat': 0}
    text = summary_markdown(rows)
    assert '# model `m`, data set `demo`' in text and '# model `m`, data set `heldout`' in text
    assert (f'| base | 9 (3) | +2.0 | [{2 - half:+.1f}, {2 + half:+.1f}] | [{2 - half_b:+.1f}, {2 + half_b:+.1f}] '
            '| 6 / 2 | -5.0 [-7.1, -2.9] | +1.0 [+1.0, +1.0] | 90 % (sd 2.9 / 1.0) |') in text


def test_csv_keeps_both_seeds_dataset_and_class_iou():
    rows = _three_by_three()
    back = read_rows(rows_to_csv(rows))
    assert [(r['pretrain_seed'], r['seed'], r['dataset'], r['model']) for r in back] == \
        [(r['pretrain_seed'], r['seed'], r['dataset'], r['model']) for r in rows]
    assert back[1]['class_iou'] == {'person': 21., 'cat': 50.}
    header = rows_to_csv(rows).splitlines()[0].split(',')
    assert header[:3] == ['model', 'dataset', 'pretrain_seed'] and 'seed' in header and 'class_iou' in header
    # an older CSV (no such columns) reads with its backbone unknown
    old = ('run,mode,param,value,seed,doei,mIoU,FP,FN,best_threshold,seconds\n'
           'baseline,cam,baseline,off,0,null,1,2,3,.3,1\n')
    (row, ) = read_rows(old)
    assert (row['pretrain_seed'], row['dataset'], row['model'], row['class_iou']) == (-1, 'demo', '', {})


def test_diagnostics_grid_names_each_question():
    runs = {r['run']: r['doei'] for r in expand_grid(GRIDS['diagnostics'])}
    assert {f'layers={k}' for k in (1, 2, 3, 4, 5)} <= set(runs)  # FP / FN against K
    assert runs['modules=ppdo'] == {'ppdo': True, 'cpdo': False} and runs['modules=cpdo'] == {'ppdo': False,
                                                                                              'cpdo': True}
    # each term alone, pinned so that the defaults cannot change their meaning
    assert runs['preset=suppress-only'] == dict(af_p2c=0.0, af_c2c=0.0, sf_p2c=-0.1, sf_c2c=-0.1)
    assert runs['preset=amplify-only'] == dict(af_p2c=0.5, af_c2c=0.5, sf_p2c=0.0, sf_c2c=0.0)
    assert runs['preset=suppress-class']['ppdo_suppress'] == 'class'
    assert runs['preset=suppress-class']['sf_p2c'] == -0.1  # the reading matters only when sf != 0
    # suppress-self (the spec's values, 'self' reading) equals the defaults: it is the shared
    # 'base' run, not run twice
    assert 'preset=suppress-self' not in runs
    assert set(PRESETS) - {'suppress-self'} <= {r.split('=', 1)[1] for r in runs if r.startswith('preset=')}


def test_plots_from_fake_rows():
    rows = _three_by_three()
    for k in (1, 2):
        rows += [dict(r, run=f'layers={k}', param='layers', value=str(k), doei={'layers': k},
                      mIoU=r['mIoU'] + k, FP=r['FP'] - k) for r in _three_by_three() if r['run'] == 'base']
    curve = k_curve(rows, 'train', depth=6)
    assert [c['K'] for c in curve] == [1, 2, 6]
    assert [c['mIoU'] for c in curve] == [pytest.approx(3), pytest.approx(4), pytest.approx(2)]
    assert [c['FP'] for c in curve] == [pytest.approx(-6), pytest.approx(-7), pytest.approx(-5)]
    entries = paired_summary(rows)
    for png in (plot_k(curve), plot_paired(entries), plot_class_iou(entries[0], highlight=['person'])):
        assert png[:8] == PNG and len(png) > 5000
    with pytest.raises(ValueError, match='no K runs to plot'):
        plot_k([])
    with pytest.raises(ValueError, match='no paired differences to plot'):
        plot_paired([])
    with pytest.raises(ValueError, match="no per-class IoU in the rows of run 'x'"):
        plot_class_iou(dict(run='x', class_iou={}))


# The fake runner: the numbers follow from the run, so a rerun can be compared;
# each call is logged; with FAKE_KILL_AT=n the process kills itself (SIGKILL,
# no cleanup) when the n-th run of this process is about to finish.
FAKE = '''
import json, os, runpy, signal, sys
tool = runpy.run_path(sys.argv[1], run_name='doei_sweep')
log, kill_at, calls = sys.argv[2], int(os.environ.get('FAKE_KILL_AT', 0)), []

def run_one(spec):
    calls.append(1)
    key = [spec['dataset'], spec['pretrain_seed'], spec['seed'], spec['mode'], spec['run']['run']]
    with open(log, 'a') as f:
        f.write(json.dumps(key) + '\\n')
    if len(calls) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    d = 0 if spec['run']['doei'] is None else 1 + spec['pretrain_seed'] - spec['seed']
    return dict(mIoU=40.0 + d, FP=30.0 - d, FN=20.0, best_threshold=0.3, seconds=1.0,
                class_iou={'background': 80.0, 'person': 30.0 + d})

tool['main'](sys.argv[3:], run_one=run_one)
'''

ARGS = ['--axis', 'sf=0.0', '--mode', 'train', 'cam', '--pretrain-seeds', '0', '1', '--seeds', '0', '1',
        '--dataset', 'demo', 'heldout']


def _sweep(tmp_path, kill_at=0):
    fake = tmp_path / 'fake.py'
    fake.write_text(FAKE)
    env = dict(os.environ, FAKE_KILL_AT=str(kill_at))
    return subprocess.run([sys.executable, str(fake), str(TOOL), str(tmp_path / 'calls.log'), CONFIG, *ARGS,
                           '--out-dir', str(tmp_path / 'out'), '--report-dir', str(tmp_path / 'docs')],
                          capture_output=True, text=True, timeout=300, env=env)


def _calls(tmp_path):
    return [tuple(json.loads(line)) for line in (tmp_path / 'calls.log').read_text().splitlines()]


@pytest.mark.slow
def test_a_killed_sweep_resumes_and_its_summary_comes_from_the_csv(tmp_path):
    # 2 data sets x 2 backbones x 2 seeds x 2 modes x (baseline, base, sf=0.0) = 48 runs
    res = _sweep(tmp_path, kill_at=7)
    assert res.returncode == -signal.SIGKILL
    out = tmp_path / 'out'
    rows = read_rows((out / 'sweep.csv').read_text())
    assert len(rows) == 6 and len(_calls(tmp_path)) == 7  # the 7th was killed before its row was written
    assert not list(out.glob('*.tmp')) and not list(out.glob('.*.tmp'))
    res = _sweep(tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert '42 runs to do, 6 done' in res.stdout
    calls = _calls(tmp_path)
    first, second = calls[:7], calls[7:]
    finished = set(first[:6])
    assert not finished & set(second)  # nothing finished is run again ...
    assert first[6] in second  # ... the killed run is
    assert len(second) == 42 and len(set(calls)) == 48
    rows = read_rows((out / 'sweep.csv').read_text())
    assert len(rows) == 48
    assert {(r['dataset'], r['pretrain_seed'], r['seed']) for r in rows} == {
        (d, p, s) for d in ('demo', 'heldout') for p in (0, 1) for s in (0, 1)}
    # the summary and the report folder's copy are the CSV's, recomputed from it alone
    title = 'DOEI sweep: out'
    expected = summary_markdown(rows, title=title, highlight={s: cooccurring_classes(s) for s in SCENES})
    assert '| train | base | +1.0 (1) | - (0) | 1.0 | - |' in expected  # 'person': co-occurring in both sets
    assert (out / 'summary.md').read_text() == expected
    assert (tmp_path / 'docs' / 'summary.md').read_text() == expected
    assert (tmp_path / 'docs' / 'sweep.csv').read_text() == (out / 'sweep.csv').read_text()
    # every DOEI row is paired with its own baseline: d = 1 + pretrain seed - seed
    e = {(x['dataset'], x['mode'], x['run']): x for x in paired_summary(rows)}
    assert e[('heldout', 'train', 'base')]['mIoU'] == pytest.approx(1) and e[('demo', 'cam', 'sf=0.0')]['n'] == 4
    assert e[('demo', 'train', 'base')]['wins'] == 3 and e[('demo', 'train', 'base')]['class_iou']['person'] == 1
    plots = {p.name for p in (tmp_path / 'docs' / 'plots').iterdir()}
    assert {'paired_tiny_mct_voc_demo.png', 'paired_tiny_mct_voc_heldout.png'} <= plots
    assert 'class_iou_tiny_mct_voc_heldout_train_sf=0.0.png' in plots
    # a third run has nothing to do
    res = _sweep(tmp_path)
    assert '0 runs to do, 48 done' in res.stdout and len(_calls(tmp_path)) == 49  # no call at all


def test_plan_budget_and_bad_arguments(tmp_path, capsys):
    argv = [CONFIG, *ARGS, '--out-dir', str(tmp_path / 'out')]
    doei_sweep.main(argv + ['--plan', '--budget-minutes', '5'])
    text = capsys.readouterr().out
    # 24 fine-tunings at 2 minutes and 24 extractions at 20 s: 56 minutes, batches of at most 5
    assert '[plan] 48 runs to do, about 56 minutes' in text
    assert '[plan] batch 1: tiny_mct_voc demo pretrain seed 0 seed 0 train baseline (~120 s)' in text
    assert '[plan] batch 12:' in text and '[plan] batch 13:' not in text
    assert not (tmp_path / 'out').exists()  # a plan runs nothing
    # a zero budget starts nothing, and says how to continue
    calls = []
    doei_sweep.main(argv + ['--budget-minutes', '0.0000001'], run_one=lambda spec: calls.append(spec) or dict(
        mIoU=1., FP=1., FN=1., best_threshold=.1, seconds=1., class_iou={}))
    assert len(calls) == 1 and 'budget of 1e-07 minutes reached: 47 runs left; the same command continues' in \
        capsys.readouterr().out
    with pytest.raises(ValueError, match='--pretrain-seeds pretrains its own backbones; it cannot be combined '
                       'with --pretrained'):
        doei_sweep.main(argv + ['--pretrained', CONFIG])
    with pytest.raises(ValueError, match=r"--dataset 'coco': without --data-root the data sets are "
                       r"\['demo', 'heldout'\]"):
        doei_sweep.main([CONFIG, '--dataset', 'coco', '--plan'])
    with pytest.raises(ValueError, match='--data-root takes one --dataset name'):
        doei_sweep.main([CONFIG, '--dataset', 'a', 'b', '--data-root', str(tmp_path), '--plan'])


def test_one_sweep_per_folder(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    with doei_sweep.sweep_lock(out):
        with pytest.raises(RuntimeError, match=f'DOEI sweep folder {out} is in use by another run'):
            with doei_sweep.sweep_lock(out):
                pass
    with doei_sweep.sweep_lock(out):  # released
        pass


@pytest.mark.slow
@pytest.mark.parametrize('config', ['tscam_vit-6l128-pre_synthetic-64.py',
                                    'transcam_conformer-6l128-pre_synthetic-128.py'])
def test_every_baseline_runs_in_both_modes(config, tmp_path, synthetic_voc, tiny_pretrained):
    """TS-CAM and TransCAM (MCTformer: test_doei_sweep.py) through the real
    runs: DOEI in training and at CAM extraction only, per-class IoU recorded."""
    out = doei_sweep.main([str(ROOT / 'configs/demo' / config), '--grid', 'base', '--mode', 'train', 'cam',
                           '--seeds', '0', '--epochs', '1', '--data-root', str(synthetic_voc), '--dataset', 'tiny',
                           '--pretrained', str(tiny_pretrained), '--out-dir', str(tmp_path / 'out'),
                           '--cfg-options', 'default_hooks.num_threads.num_threads=1'])
    rows = {(r['mode'], r['run']): r for r in read_rows((out / 'sweep.csv').read_text())}
    assert set(rows) == {(m, r) for m in ('train', 'cam') for r in ('baseline', 'base')}
    assert all(r['dataset'] == 'tiny' and r['pretrain_seed'] == -1 for r in rows.values())
    # one baseline checkpoint serves both modes; DOEI changes the numbers in each
    assert rows[('train', 'baseline')]['mIoU'] == rows[('cam', 'baseline')]['mIoU']
    for mode in ('train', 'cam'):
        assert (rows[(mode, 'base')]['mIoU'], rows[(mode, 'base')]['FP']) != \
            (rows[(mode, 'baseline')]['mIoU'], rows[(mode, 'baseline')]['FP'])
        assert 'person' in rows[(mode, 'base')]['class_iou'] and len(rows[(mode, 'base')]['class_iou']) == 21


@pytest.mark.slow
def test_effect_script_plan_prints_what_is_left_and_writes_nothing(tmp_path):
    """``bash tools/analysis_tools/doei_effect.sh plan`` as the guide shows it (docs/user_guides/doei_effect.md):
    every step's runs still to do, after the two already in the CSV, in 30-minute batches; nothing run or written.
    The batch itself (``doei_effect.sh`` without ``plan``): the next test."""
    out, docs = tmp_path / 'out', tmp_path / 'docs'
    out.mkdir()
    mct = 'mctformer-v2_vit-6l128-pre_synthetic-64'
    done = [_row(0, 0, run, 40.0, model=mct, dataset='heldout') for run in ('baseline', 'base')]
    (out / 'sweep.csv').write_text(rows_to_csv(done))
    before = (out / 'sweep.csv').read_text()
    # the script calls `python`: this interpreter's
    env = dict(os.environ, OUT=str(out), DOCS=str(docs), BUDGET='30',
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    res = subprocess.run(['bash', str(ROOT / 'tools/analysis_tools/doei_effect.sh'), 'plan'], capture_output=True,
                         text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.splitlines()
    totals = [ln.split(',')[0] for ln in lines if re.match(r'\[plan\] \d+ runs to do', ln)]
    # MCTformer-V2 base on 2 sets, TS-CAM and TransCAM base on the held-out set, the diagnostics in both modes:
    # 3 backbones x 3 seeds x 2 modes x 2 settings (x 2 sets) and 3 x 3 x 12 settings x 2 sets, less the 2 done
    # rows (the train-mode diagnostics, which hold the baseline and the base setting too, share them)
    assert totals == ['[plan] 70 runs to do', '[plan] 36 runs to do', '[plan] 36 runs to do',
                      '[plan] 216 runs to do', '[plan] 214 runs to do'], res.stdout[:3000]
    first = [ln for ln in lines if ln.startswith('[plan] batch')][0]
    assert first == f'[plan] batch 1: {mct} heldout pretrain seed 0 seed 0 cam baseline (~20 s)'
    assert f'{mct} heldout pretrain seed 0 seed 0 train base ' not in res.stdout  # done: not planned again
    assert max(int(ln.split()[2].rstrip(':')) for ln in lines if ln.startswith('[plan] batch')) > 1
    # a CSV without the sweep's record (an older sweep): each step's plan says a run would refuse it
    assert res.stdout.count(f'[plan] note: running this would be refused: DOEI sweep folder {out} holds outputs '
                            '(sweep.csv) but no record (.mmdoei-record.json)') == 5
    assert (out / 'sweep.csv').read_text() == before and sorted(p.name for p in out.iterdir()) == ['sweep.csv']
    assert not docs.exists()


SCRIPT = ROOT / 'tools/analysis_tools/doei_effect.sh'


def _effect_steps():
    """Each step of doei_effect.sh as the sweep's argv (read from the script, so the test follows it)."""
    text = SCRIPT.read_text()
    configs = dict(re.findall(r'^(\w+)=(configs/\S+)$', text, re.M))  # MCT=configs/demo/...
    seeds = re.search(r'^SEEDS="(.*)"$', text, re.M).group(1)
    steps = re.findall(r'"(.*)"', re.search(r'^STEPS=\((.*?)^\)', text, re.M | re.S).group(1))
    assert len(steps) == 5 and set(configs) == {'MCT', 'TSCAM', 'TRANSCAM'}, (steps, configs)
    return [shlex.split(re.sub(r'\$(\w+)', lambda m: configs[m.group(1)], s) + ' ' + seeds) for s in steps]


@pytest.mark.slow
def test_effect_batch_as_documented_with_every_run_done_says_nothing_left(tmp_path):
    """``bash tools/analysis_tools/doei_effect.sh`` exactly as docs/user_guides/doei_effect.md shows it, with
    OUT and DOCS (the script's knobs) at a CSV that holds every run of every step: the batch reads the five
    plans in one interpreter, runs and writes nothing, and says "nothing left" (a batch with work left is a
    30-minute job of real training; ``plan`` above shows what it would pick)."""
    out, docs = tmp_path / 'out', tmp_path / 'docs'
    out.mkdir()
    rows, keys = [], set()
    for argv in _effect_steps():
        args = doei_sweep.parse_args(argv + ['--out-dir', str(out)])
        model = Path(args.config).stem
        for spec in doei_sweep.plan_runs(args, expand_grid(GRIDS[args.grid]), model, set()):
            key = (model, spec['dataset'], spec['pretrain_seed'], spec['mode'], spec['run']['run'], spec['seed'])
            if key not in keys:
                keys.add(key)
                rows.append(_row(spec['pretrain_seed'], spec['seed'], spec['run']['run'], 40.0, mode=spec['mode'],
                                 dataset=spec['dataset'], model=model))
    # 2 x 36 + 36 + 36 (base) and 216 + 216 (diagnostics), less the 72 baseline and base rows the diagnostics
    # (in both modes) share with the first step
    assert len(rows) == 72 + 36 + 36 + 216 + 216 - 72
    (out / 'sweep.csv').write_text(rows_to_csv(rows))
    before = (out / 'sweep.csv').read_text()
    env = dict(os.environ, OUT=str(out), DOCS=str(docs),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])  # `python`: this one
    res = subprocess.run(['bash', str(SCRIPT)], capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout == f'[doei_effect] nothing left: {docs}/{{sweep.csv,summary.md,plots/}}\n'
    assert (out / 'sweep.csv').read_text() == before and sorted(p.name for p in out.iterdir()) == ['sweep.csv']
    assert not docs.exists()
