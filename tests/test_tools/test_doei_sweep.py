"""The DOEI sweep: its grid, its numbers, and the tool end to end on a tiny grid."""
import csv
import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from projects.wsss_lab.sweep import GRIDS, aggregate, apply_param, expand_grid, read_rows, rows_to_csv, summary_markdown

ROOT = Path(__file__).resolve().parents[2]
doei_sweep = SimpleNamespace(**runpy.run_path(str(ROOT / 'tools/analysis_tools/doei_sweep.py'), run_name='doei_sweep'))


def test_expand_grid_one_axis_at_a_time():
    runs = expand_grid({'sf': [-0.3, -0.1, 0.0], 'layers': [2, None], 'modules': ['both', 'ppdo']})
    # sf = -0.1 is the default: the shared 'base' point, not run again
    assert [r['run'] for r in runs] == ['baseline', 'base', 'sf=-0.3', 'sf=0.0', 'layers=2', 'modules=ppdo']
    by = {r['run']: r['doei'] for r in runs}
    assert by['baseline'] is None and by['base'] == {}
    assert by['sf=-0.3'] == {'sf_p2c': -0.3, 'sf_c2c': -0.3}  # tied: both modules' factor
    assert by['sf=0.0'] == {'sf_p2c': 0.0, 'sf_c2c': 0.0}
    assert by['modules=ppdo'] == {'ppdo': True, 'cpdo': False}
    assert by['layers=2'] == {'layers': 2}
    # around another base: the base's own value is the shared point, not repeated
    runs = expand_grid({'alpha': [0.0, 0.35]}, base={'alpha': 0.0})
    assert [r['run'] for r in runs] == ['baseline', '{alpha=0.0} base', '{alpha=0.0} alpha=0.35']
    assert runs[2]['doei'] == {'alpha': 0.35}


def test_bad_settings_are_refused_before_any_run():
    with pytest.raises(ValueError, match=r'DOEI: alpha must be in \[0, 1\], got 2'):
        expand_grid({'alpha': [2]})
    with pytest.raises(KeyError, match="unknown sweep parameter 'beta'"):
        apply_param({}, 'beta', 1)
    with pytest.raises(ValueError, match="modules must be one of"):
        apply_param({}, 'modules', 'none')
    with pytest.raises(KeyError, match=r"unknown option\(s\) \['sff'\]"):
        expand_grid({}, base={'sff': 1})
    for grid in GRIDS.values():  # the shipped grids are all valid
        expand_grid(grid)


ROWS = [dict(run='baseline', mode='cam', param='baseline', value='off', seed=s, doei=None, mIoU=m, FP=fp, FN=fn,
             best_threshold=.3, seconds=1.0)
        for s, m, fp, fn in [(0, 30., 40., 30.), (1, 32., 44., 24.), (2, 34., 42., 24.)]]
ROWS += [dict(run='sf=0.0', mode='cam', param='sf', value='0.0', seed=s, doei={'sf_p2c': 0.0, 'sf_c2c': 0.0},
              mIoU=m, FP=30., FN=40., best_threshold=.4, seconds=1.0) for s, m in [(0, 36.), (1, 38.), (2, 40.)]]


def test_aggregate_and_summary_by_hand():
    agg = aggregate(ROWS)
    base, sf = agg[('cam', 'baseline')], agg[('cam', 'sf=0.0')]
    assert base['mIoU'] == pytest.approx(32.0) and base['mIoU_std'] == pytest.approx(2.0)  # sample std
    assert base['FN'] == pytest.approx(26.0) and base['FN_std'] == pytest.approx(12 ** .5)
    assert sf['n'] == 3 and sf['seeds'] == [0, 1, 2] and sf['mIoU'] == pytest.approx(38.0)
    text = summary_markdown(ROWS)
    assert '| baseline | 3 | 32.0 ± 2.0 | 42.0 ± 2.0 |' in text
    assert '| sf=0.0 | 3 | 38.0 ± 2.0 | 30.0 ± 0.0 | 40.0 ± 0.0 | +6.0 |' in text
    assert ('Best DOEI setting by mean mIoU: `sf=0.0` (38.0 ± 2.0, n=3), +6.0 mIoU against the baseline '
            '(32.0 ± 2.0): above the baseline by more than the larger seed spread. FP -12.0, FN +14.0.') in text


def test_csv_round_trip():
    rows = read_rows(rows_to_csv(ROWS))
    assert [r['mIoU'] for r in rows] == [r['mIoU'] for r in ROWS] and rows[3]['seed'] == 0
    assert json.loads(rows[3]['doei']) == {'sf_p2c': 0.0, 'sf_c2c': 0.0} and rows[0]['doei'] == 'null'


def test_parse_axes():
    assert doei_sweep.parse_axes(['sf=-0.1,0', 'layers=2,all', 'ppdo_suppress=self,class']) == {
        'sf': [-0.1, 0], 'layers': [2, None], 'ppdo_suppress': ['self', 'class']}
    with pytest.raises(ValueError, match="--axis wants PARAM=V1,V2,..., got 'sf'"):
        doei_sweep.parse_axes(['sf'])


@pytest.mark.slow
def test_tool_on_a_tiny_grid(tmp_path, synthetic_voc, capsys):
    # around a base setting of its own, as docs/user_guides/doei_effect.md's `--base sf_p2c=-0.1 sf_c2c=-0.1`
    argv = [str(ROOT / 'tests/data/configs/tiny_mct_voc.py'), '--axis', 'sf=-0.3', '--axis', 'layers=1',
            '--base', 'sf_p2c=-0.2', 'sf_c2c=-0.2',
            '--mode', 'cam', 'train', '--seeds', '0', '1', '--epochs', '1', '--data-root', str(synthetic_voc),
            '--out-dir', str(tmp_path / 'sweep')]
    base = '{sf_c2c=-0.2,sf_p2c=-0.2}'  # the run names say which base they vary around
    out = doei_sweep.main(argv)
    with open(out / 'sweep.csv') as f:
        rows = list(csv.DictReader(f))
    # 2 modes x 2 seeds x (baseline, base, sf=-0.3, layers=1)
    assert len(rows) == 16
    assert {(r['mode'], r['run']) for r in rows} == {
        (m, r) for m in ('cam', 'train') for r in ('baseline', f'{base} base', f'{base} sf=-0.3', f'{base} layers=1')}
    by = {(r['mode'], r['run'], r['seed']): r for r in rows}
    # DOEI off is the baseline in both modes: the same checkpoint, the same numbers
    for seed in '01':
        assert by[('cam', 'baseline', seed)]['mIoU'] == by[('train', 'baseline', seed)]['mIoU']
    # the two seeds trained different baselines
    assert by[('cam', 'baseline', '0')]['mIoU'] != by[('cam', 'baseline', '1')]['mIoU']
    for name in ('summary.md', 'sweep_cam.png', 'sweep_train.png'):
        assert (out / name).stat().st_size > 0
    assert (out / 'sweep_cam.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    text = (out / 'summary.md').read_text()
    doei = json.loads(by[('cam', f'{base} sf=-0.3', '0')]['doei'])  # every setting, resolved
    assert doei['sf_p2c'] == doei['sf_c2c'] == -0.3 and doei['af_p2c'] == 0.5 and doei['alpha'] == 0.35
    # the base setting reached the base run and the axis it does not vary, in both modes
    for mode in ('cam', 'train'):
        doei = json.loads(by[(mode, f'{base} base', '1')]['doei'])
        assert doei['sf_p2c'] == doei['sf_c2c'] == -0.2 and doei['layers'] is None and doei['alpha'] == 0.35
        doei = json.loads(by[(mode, f'{base} layers=1', '1')]['doei'])
        assert doei['sf_p2c'] == doei['sf_c2c'] == -0.2 and doei['layers'] == 1
    assert by[('cam', 'baseline', '0')]['doei'] == 'null'
    assert '## mode `cam`' in text and '## mode `train`' in text and f'| {base} layers=1 | 2 |' in text
    # no CAM files kept, only the reports
    assert not list(out.rglob('*.npz')) and len(list(out.rglob('seed_eval.json'))) == 16
    # a rerun finds everything done
    capsys.readouterr()
    doei_sweep.main(argv)
    assert '0 runs to do, 16 done' in capsys.readouterr().out


@pytest.mark.slow
def test_cam_reports_are_reused_only_for_the_same_settings(tmp_path, synthetic_voc):
    from mmdoei.apis.pipeline import cams_and_seeds, stage1_cfg, train_stage1
    cfg = stage1_cfg(str(ROOT / 'tests/data/configs/tiny_mct_voc.py'), str(tmp_path / 'run'), epochs=1,
                     data_root=str(synthetic_voc), doei=None)
    cfg.log_level = 'WARNING'
    ckpt = train_stage1(cfg)
    cam_dir = tmp_path / 'cams'
    first = cams_and_seeds(cfg, str(ckpt), str(cam_dir))
    npz = sorted(cam_dir.glob('*.npz'))
    mtimes = [p.stat().st_mtime_ns for p in npz]
    assert npz and cams_and_seeds(cfg, str(ckpt), str(cam_dir)) == first  # reused: nothing rewritten
    assert [p.stat().st_mtime_ns for p in npz] == mtimes
    # another CAM type in the same folder: everything is made again, nothing stale is reported
    other = stage1_cfg(cfg, cfg.work_dir)
    other.model.cam_cfg = dict(type='patchcam', last_n=2, refine=False)
    second = cams_and_seeds(other, str(ckpt), str(cam_dir))
    assert second['mIoU'] != first['mIoU']
    assert all(p.stat().st_mtime_ns != m for p, m in zip(npz, mtimes))
    # DOEI at extraction is a different setting too
    with_doei = stage1_cfg(other, other.work_dir, doei=dict(sf_p2c=-0.5, sf_c2c=-0.5))
    assert cams_and_seeds(with_doei, str(ckpt), str(cam_dir))['mIoU'] != second['mIoU']


def test_known_depths_cover_every_model_in_the_csv():
    # A TS-CAM run rewrites the MCTformer K plots too: they keep their K = all (6 blocks) point.
    from mmengine.config import Config
    rows = [dict(model='mctformer-v2_vit-6l128-pre_synthetic-64'), dict(model='not-a-config'), dict(model='')]
    cfg = Config.fromfile(str(ROOT / 'configs/demo/transcam_conformer-6l128-pre_synthetic-128.py'))
    depths = doei_sweep.known_depths(rows, 'transcam_conformer-6l128-pre_synthetic-128', cfg)
    assert depths == {'mctformer-v2_vit-6l128-pre_synthetic-64': 6, 'transcam_conformer-6l128-pre_synthetic-128': 6}


def test_class_split_by_hand():
    from projects.wsss_lab.sweep import class_split
    entry = dict(class_iou={'background': 9.0, 'cat': 2.0, 'dog': -4.0, 'bus': 1.0, 'car': 0.5})
    split = class_split(entry, ['cat', 'dog', 'sofa'])
    assert split['co'] == dict(n=2, mean=-1.0, abs=3.0)  # (2 - 4) / 2, (2 + 4) / 2; background left out
    assert split['other'] == dict(n=2, mean=0.75, abs=0.75)
    empty = class_split(dict(class_iou={'cat': 1.0}), ['cat'])['other']
    assert empty['n'] == 0 and empty['mean'] != empty['mean']  # NaN


def test_summary_has_the_class_table_only_with_highlight():
    rows = []
    for run, doei, cat in (('baseline', None, 40.0), ('base', {}, 43.0)):
        rows.append(dict(model='m', dataset='demo', pretrain_seed=0, run=run, mode='cam', param=run, value='',
                         seed=0, doei=doei, mIoU=40.0, FP=30.0, FN=30.0, best_threshold=0.3, seconds=1.0,
                         class_iou={'cat': cat, 'bus': 20.0}))
    rows = read_rows(rows_to_csv(rows))
    assert 'per-class IoU change' not in summary_markdown(rows)
    text = summary_markdown(rows, highlight={'demo': ['cat']})
    assert '| cam | base | +3.0 (1) | +0.0 (1) | 3.0 | 0.0 |' in text
