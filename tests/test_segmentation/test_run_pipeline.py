"""tools/run_pipeline.py: stage order, markers, resume, the summary table.

The tools themselves are replaced by a fake that writes what each would
write, so these tests check the orchestration in seconds; the real run is
``python tools/run_pipeline.py ... --tiny --doei`` (README).
"""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGE1 = 'configs/demo/mctformer-v2_vit-4l128_synthetic-64.py'
MCT_PSA = 'configs/psa/affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py'


def _load_tool():
    spec = importlib.util.spec_from_file_location('run_pipeline', ROOT / 'tools/run_pipeline.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rp = _load_tool()


def _arg(cmd, flag):
    return cmd[cmd.index(flag) + 1]


class FakeTools:
    """Writes what each tool would write; records (variant, stage, command)."""

    def __init__(self, fail_at=None):
        self.calls = []
        self.fail_at = fail_at

    def __call__(self, cmd, log: Path) -> None:
        variant, stage = log.parent.parent.name, log.stem
        self.calls.append((variant, stage, cmd))
        if stage == self.fail_at:
            raise RuntimeError(f'{stage} failed')
        script = next(c for c in cmd if c.startswith('tools/'))
        script = {'tools/dist_train.sh': 'train.py', 'tools/dist_test.sh': 'test.py'}.get(script, script)
        if script.endswith('train.py'):
            work = Path(_arg(cmd, '--work-dir'))
            work.mkdir(parents=True, exist_ok=True)
            (work / 'last_checkpoint').write_text(str(work / 'iter_1.pth'))
            if stage == 'seg_train':
                (work / '20260101_000000/vis_data').mkdir(parents=True)
                (work / '20260101_000000/vis_data/scalars.json').write_text(
                    json.dumps(dict(loss=1.0, step=1)) + '\n' + json.dumps(dict(mIoU=41.5, step=1)) + '\n')
        elif script.endswith('test.py') and '--cam-out' in cmd:
            out = Path(_arg(cmd, '--cam-out'))
            out.mkdir(parents=True, exist_ok=True)
            (out / '2007_000001.npz').write_bytes(b'')
        elif script.endswith('test.py'):
            run = Path(_arg(cmd, '--work-dir')) / '20260101_000000'
            run.mkdir(parents=True)
            (run / '20260101_000000.json').write_text(json.dumps(dict(aAcc=90.0, mIoU=44.25, mAcc=50.0)))
        elif script.endswith('eval_seeds.py'):
            out = Path(_arg(cmd, '--out-dir'))
            out.mkdir(parents=True, exist_ok=True)
            report = dict(mIoU=30.0 if '--cam-dir' in cmd else 35.0, FP=1.0, FN=2.0)
            if '--cam-dir' in cmd:
                report['best_threshold'] = 0.42
            (out / 'seed_eval.json').write_text(json.dumps(report))
        elif script.endswith('psa_infer.py'):
            out = Path(_arg(cmd, '--out-dir'))
            out.mkdir(parents=True, exist_ok=True)
            (out / '2007_000001.png').write_bytes(b'')
        else:  # pragma: no cover
            raise AssertionError(f'unexpected command {cmd}')

    def stages(self, variant=None):
        return [s for v, s, _ in self.calls if variant in (None, v)]


def _main(tmp_path, *extra, tools=None):
    argv = [STAGE1, '--tiny', '--work-dir', str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data'), *extra]
    return rp.main(argv, runner=tools or FakeTools())


def test_all_stages_in_order_with_doei_and_one_table(tmp_path):
    tools = FakeTools()
    rows = _main(tmp_path, '--doei', tools=tools)
    assert tools.stages('baseline') == list(rp.STAGES) and tools.stages('doei') == list(rp.STAGES)
    for variant in ('baseline', 'doei'):
        assert rows[variant] == dict(seed_mIoU=30.0, seed_threshold=0.42, mask_mIoU=35.0,
                                     val_mIoU_single_scale=41.5, val_mIoU=44.25, seconds=rows[variant]['seconds'])
        for stage in rp.STAGES:
            assert (tmp_path / 'work' / variant / '.done' / f'{stage}.json').is_file()
    work = tmp_path / 'work'
    summary = json.loads((work / 'summary.json').read_text())
    assert set(summary['variants']) == {'baseline', 'doei'}
    md = (work / 'summary.md').read_text()
    assert '| baseline | 30.0 | 35.0 | 41.5 | 44.2 |' in md and '| doei | 30.0 | 35.0 | 41.5 | 44.2 |' in md
    # the DOEI variant is the same config with DOEI on
    doei_cfg = [c for v, s, c in tools.calls if v == 'doei' and s == 'stage1_train'][0][2]
    assert 'model = dict(doei=dict())' in Path(doei_cfg).read_text()
    # each stage reads what the one before wrote
    cmds = {(v, s): c for v, s, c in tools.calls}
    base = work / 'baseline'
    assert str(base / 'cams') in ' '.join(cmds['baseline', 'affinity_train'])
    assert f'train_dataloader.dataset.pseudo_mask_dir={base / "pseudo_masks"}' in cmds['baseline', 'seg_train']
    assert _arg(cmds['baseline', 'seg_test'], '--work-dir') == str(base / 'stage3_test')
    test_cfg = Path(cmds['baseline', 'seg_test'][2]).read_text()  # the seg config wrapped in its tta_model
    assert 'deeplabv1-largefov_resnet38d-tiny' in test_cfg and '{{_base_.tta_model.crf}}' in test_cfg
    # the demo config lists only train for CAMs; stage 2 needs train_aug
    assert 'cam_dataloader.dataset.split=ImageSets/Segmentation/train_aug.txt' in cmds['baseline', 'cams']


def test_resume_at_first_unfinished_stage(tmp_path):
    with pytest.raises(RuntimeError, match='seg_train failed'):
        _main(tmp_path, tools=FakeTools(fail_at='seg_train'))
    done = sorted(p.stem for p in (tmp_path / 'work/baseline/.done').iterdir())
    assert done == sorted(rp.STAGES[:6])
    tools = FakeTools()
    rows = _main(tmp_path, tools=tools)
    assert tools.stages() == ['seg_train', 'seg_test']
    assert rows['baseline']['val_mIoU'] == 44.25
    # a finished pipeline runs nothing
    tools = FakeTools()
    _main(tmp_path, tools=tools)
    assert tools.calls == []


def test_redoing_a_stage_clears_what_was_made_from_it(tmp_path):
    _main(tmp_path)
    base = tmp_path / 'work/baseline'
    (base / 'pseudo_masks/stale.png').write_bytes(b'')
    (base / '.done/cams.json').unlink()  # e.g. the CAM folder was damaged
    tools = FakeTools()
    _main(tmp_path, tools=tools)
    assert tools.stages() == list(rp.STAGES[1:])
    assert not (base / 'pseudo_masks/stale.png').exists()
    tools = FakeTools()
    _main(tmp_path, '--from-stage', 'mask_eval', tools=tools)
    assert tools.stages() == ['mask_eval', 'seg_train', 'seg_test']


def test_constant_background_score_comes_from_the_seed_sweep(tmp_path):
    """A random walk with a constant background score (the MCTformer-style PSA
    config) gets the best threshold of this run's seed sweep."""
    tools = FakeTools()
    _main(tmp_path, '--psa-config', MCT_PSA, tools=tools)
    cmd = [c for _, s, c in tools.calls if s == 'pseudo_masks'][0]
    assert 'model.test_cfg.bg_threshold=0.42' in cmd


def test_scale_overrides_reach_the_tools(tmp_path):
    tools = FakeTools()
    _main(tmp_path, '--stage1-epochs', '3', '--psa-epochs', '2', '--seg-iters', '7', tools=tools)
    cmds = {s: c for _, s, c in tools.calls}
    assert 'train_cfg.max_epochs=3' in cmds['stage1_train'] and 'param_scheduler.0.end=3' in cmds['stage1_train']
    assert 'train_cfg.max_epochs=2' in cmds['affinity_train']
    assert 'train_cfg.max_iters=7' in cmds['seg_train'] and 'param_scheduler.0.end=7' in cmds['seg_train']


def test_gpus_use_the_torchrun_launchers(tmp_path):
    tools = FakeTools()
    _main(tmp_path, '--gpus', '2', tools=tools)
    cmds = {s: c for _, s, c in tools.calls}
    assert cmds['seg_train'][:2] == ['bash', 'tools/dist_train.sh'] and cmds['seg_train'][3] == '2'
    assert cmds['seg_test'][1] == 'tools/dist_test.sh' and cmds['seg_test'][4] == '2'
    assert '--nproc_per_node=2' in cmds['pseudo_masks'] and cmds['pseudo_masks'][-2:] == ['--launcher', 'pytorch']


def test_doei_needs_a_baseline_config(tmp_path):
    with pytest.raises(ValueError, match='already has DOEI'):
        rp.main(['configs/demo/doei-mctformer-v2_vit-4l128_synthetic-64.py', '--doei', '--tiny', '--work-dir',
                 str(tmp_path / 'w'), '--data-root', str(tmp_path)], runner=FakeTools())
