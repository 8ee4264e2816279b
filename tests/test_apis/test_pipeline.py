"""mmdoei.apis.pipeline: stage order, stage records, resume, the summary table.

The four actions (train, test, pseudo masks, score) are replaced by fakes that
write what each would write and hand back what each would return, so these
tests check the orchestration in seconds (on the real list files of a small
synthetic set, which the batch check counts); the real run is the documented
``python tools/run_pipeline.py ... --tiny --doei`` (tests/test_tools/test_run_pipeline.py).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from mmdoei.apis.pipeline import STAGES, WSSSPipeline, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
STAGE1 = str(ROOT / 'configs/demo/mctformer-v2_vit-4l128_synthetic-64.py')
MCT_PSA = str(ROOT / 'configs/psa/affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py')


class FakePipeline(WSSSPipeline):
    """Records (variant, stage, config) of every action instead of running it."""

    calls: list = []
    fail_at = None

    def _record(self, stage, cfg):
        FakePipeline.calls.append((self.name, stage, cfg))
        if stage == FakePipeline.fail_at:
            raise RuntimeError(f'{stage} failed')

    def train(self, stage, cfg):
        self._record(stage, cfg)
        work = Path(cfg.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        (work / 'iter_1.pth').write_bytes(b'')  # a finished stage's checkpoint must exist (check_outputs)
        return dict(checkpoint=str(work / 'iter_1.pth'), val=dict(mIoU=41.5) if stage == 'seg_train' else {})

    def test(self, stage, cfg):
        self._record(stage, cfg)
        if stage == 'cams':
            out = Path(cfg.test_cfg.out_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / '2007_000001.npz').write_bytes(b'')
            return dict(cams_written=1)
        return dict(aAcc=np.float32(90.0), mIoU=np.float32(44.25), mAcc=np.float32(50.0))  # as mmseg's IoUMetric

    def pseudo_masks_run(self, cfg, checkpoint, cam_dir, out_dir, work_dir):
        self._record('pseudo_masks', cfg)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / '2007_000001.png').write_bytes(b'')
        return {}

    def score(self, stage, kind, folder, out_dir):
        self._record(stage, folder)
        report = dict(mIoU=30.0 if kind == 'cam' else 35.0, FP=1.0, FN=2.0)
        if kind == 'cam':
            report['best_threshold'] = 0.42
        return report


@pytest.fixture
def fake(synthetic_voc):
    FakePipeline.calls = []
    FakePipeline.fail_at = None
    FakePipeline.data = str(synthetic_voc)  # real list files: the batch check counts them before any stage
    return FakePipeline


def finished(base):
    """The stages whose record in ``base/.done`` holds results (a started stage's has none)."""
    return sorted(p.stem for p in (base / '.done').iterdir() if 'results' in json.loads(p.read_text()))


def stages(fake, variant=None):
    return [s for v, s, _ in fake.calls if variant in (None, v)]


def _main(tmp_path, config=STAGE1, **kw):
    return run_pipeline(config, str(tmp_path / 'work'), FakePipeline.data, tiny=True, pipeline_cls=FakePipeline, **kw)


@pytest.mark.slow
def test_all_stages_in_order_with_doei_and_one_table(tmp_path, fake):
    rows = _main(tmp_path, doei=True)
    assert stages(fake, 'baseline') == list(STAGES) and stages(fake, 'doei') == list(STAGES)
    for variant in ('baseline', 'doei'):
        assert rows[variant] == dict(seed_mIoU=30.0, seed_threshold=0.42, mask_mIoU=35.0,
                                     val_mIoU_single_scale=41.5, val_mIoU=44.25, seconds=rows[variant]['seconds'])
        for stage in STAGES:
            assert (tmp_path / 'work' / variant / '.done' / f'{stage}.json').is_file()
    work = tmp_path / 'work'
    summary = json.loads((work / 'summary.json').read_text())
    assert set(summary['variants']) == {'baseline', 'doei'}
    md = (work / 'summary.md').read_text()
    assert '| baseline | 30.0 | 35.0 | 41.5 | 44.2 |' in md and '| doei | 30.0 | 35.0 | 41.5 | 44.2 |' in md
    # the DOEI variant is the same config with DOEI on
    cfgs = {(v, s): c for v, s, c in fake.calls}
    assert 'model = dict(doei=dict())' in (work / 'doei_stage1_config.py').read_text()
    assert cfgs['doei', 'stage1_train'].model.doei == {} and 'doei' not in cfgs['baseline', 'stage1_train'].model
    # each stage reads what the one before wrote
    base = work / 'baseline'
    aff = cfgs['baseline', 'affinity_train'].train_dataloader.dataset.pipeline
    assert [t['cam_dir'] for t in aff if 'cam_dir' in t] == [str(base / 'cams')]
    assert cfgs['baseline', 'seg_train'].train_dataloader.dataset.pseudo_mask_dir == str(base / 'pseudo_masks')
    assert cfgs['baseline', 'seg_test'].work_dir == str(base / 'stage3_test')
    assert cfgs['baseline', 'seg_test'].load_from == str(base / 'stage3' / 'iter_1.pth')
    test = cfgs['baseline', 'seg_test']  # the seg config wrapped in its tta_model
    assert test.model.type == 'CRFSegTTAModel' and test.model.crf is not None
    assert 'deeplab' in test.model.module.decode_head.type.lower() or test.model.module.type == 'EncoderDecoder'
    # the demo config lists only train for CAMs; stage 2 needs train_aug
    assert cfgs['baseline', 'cams'].test_dataloader.dataset.split == 'ImageSets/Segmentation/train_aug.txt'
    assert cfgs['baseline', 'cams'].test_cfg.type == 'CAMGenerationLoop'
    # every stage runs on the given data root
    assert cfgs['baseline', 'seg_train'].train_dataloader.dataset.data_root == FakePipeline.data


@pytest.mark.slow
def test_resume_at_first_unfinished_stage(tmp_path, fake):
    fake.fail_at = 'seg_train'
    with pytest.raises(RuntimeError, match='seg_train failed'):
        _main(tmp_path)
    assert finished(tmp_path / 'work/baseline') == sorted(STAGES[:6])
    seg_train = json.loads((tmp_path / 'work/baseline/.done/seg_train.json').read_text())
    assert seg_train['kind'] == 'pipeline.seg_train' and 'results' not in seg_train  # started, unfinished
    fake.calls, fake.fail_at = [], None
    rows = _main(tmp_path)
    assert stages(fake) == ['seg_train', 'seg_test']
    assert rows['baseline']['val_mIoU'] == 44.25
    # a finished pipeline runs nothing
    fake.calls = []
    _main(tmp_path)
    assert fake.calls == []


@pytest.mark.slow
def test_redoing_a_stage_clears_what_was_made_from_it(tmp_path, fake):
    _main(tmp_path)
    base = tmp_path / 'work/baseline'
    (base / 'pseudo_masks/stale.png').write_bytes(b'')
    cams = json.loads((base / '.done/cams.json').read_text())
    del cams['results']  # as a run killed while it wrote the CAMs leaves it
    (base / '.done/cams.json').write_text(json.dumps(cams))
    fake.calls = []
    _main(tmp_path)
    assert stages(fake) == list(STAGES[1:])
    assert not (base / 'pseudo_masks/stale.png').exists()
    fake.calls = []
    _main(tmp_path, from_stage='mask_eval')
    assert stages(fake) == ['mask_eval', 'seg_train', 'seg_test']


def test_constant_background_score_comes_from_the_seed_sweep(tmp_path, fake):
    """A random walk with a constant background score (the MCTformer-style PSA
    config) gets the best threshold of this run's seed sweep."""
    _main(tmp_path, psa_config=MCT_PSA)
    cfg = [c for _, s, c in fake.calls if s == 'pseudo_masks'][0]
    assert cfg.model.test_cfg.bg_threshold == 0.42


def test_the_stage1_cam_suffix_reaches_every_stage2_cam_reader(tmp_path, fake):
    """Issue 24: with ``cam_suffix='_x.npz'`` in the stage-1 config the cams stage writes
    ``{img_id}_x.npz``; AffinityNet training and the random walk read the same names
    (they read ``{img_id}.npz`` and stopped with every CAM file unusable)."""
    from mmdoei.apis.config_surgery import cam_transform_cfgs
    config = tmp_path / 'stage1_x.py'
    config.write_text(f'_base_ = [{STAGE1!r}]\ncam_suffix = \'_x.npz\'\n')
    _main(tmp_path, config=str(config), psa_config=MCT_PSA)
    cfgs = {s: c for _, s, c in fake.calls}
    assert cfgs['cams'].test_cfg.cam_suffix == '_x.npz'  # the writer
    cams = str(tmp_path / 'work/baseline/cams')
    for stage, loaders in (('affinity_train', ('train_dataloader', 'val_dataloader', 'test_dataloader')),
                           ('pseudo_masks', ('test_dataloader', ))):
        cfg = cfgs[stage]
        readers = [(name, t['type'], t.get('cam_suffix'), t['cam_dir']) for name in loaders if cfg.get(name)
                   for t in cam_transform_cfgs(cfg[name].dataset.pipeline, cfg.default_scope)]
        assert readers and all(r[2:] == ('_x.npz', cams) for r in readers), (stage, readers)


def test_set_cam_dir_refuses_a_bad_suffix_before_changing_anything():
    from mmengine.config import Config

    from mmdoei.apis.config_surgery import set_cam_dir
    cfg = Config.fromfile(MCT_PSA)
    before = cfg.to_dict()
    with pytest.raises(ValueError, match=r"^cam_suffix must end with '\.npz' .* got '_x\.cam'$"):
        set_cam_dir(cfg, '/elsewhere', cam_suffix='_x.cam')
    assert cfg.to_dict() == before


def test_scale_overrides_reach_the_configs(tmp_path, fake):
    _main(tmp_path, stage1_epochs=3, psa_epochs=2, seg_iters=7)
    cfgs = {s: c for _, s, c in fake.calls}
    assert cfgs['stage1_train'].train_cfg.max_epochs == 3 and cfgs['stage1_train'].param_scheduler[0].end == 3
    assert cfgs['affinity_train'].train_cfg.max_epochs == 2
    assert cfgs['seg_train'].train_cfg.max_iters == 7 and cfgs['seg_train'].param_scheduler[0].end == 7


def test_launcher_reaches_every_runner(tmp_path, fake):
    """Under torchrun (launcher='pytorch') each stage's Runner joins the process group."""
    _main(tmp_path, launcher='pytorch')
    assert {c.launcher for _, s, c in fake.calls if s not in ('seed_eval', 'mask_eval')} == {'pytorch'}


def test_doei_needs_a_baseline_config(tmp_path, fake):
    with pytest.raises(ValueError, match='already has DOEI'):
        _main(tmp_path, config=str(ROOT / 'configs/demo/doei-mctformer-v2_vit-4l128_synthetic-64.py'), doei=True)


def test_tiny_without_data_root_says_what_to_pass_and_writes_nothing(tmp_path):
    """The package no longer writes the synthetic set (issue 24: it is projects/wsss_lab's); a tiny run
    without data_root is refused before anything is written, naming the argument and the tool that makes it."""
    FakePipeline.calls = []
    with pytest.raises(ValueError) as err:
        run_pipeline(STAGE1, str(tmp_path / 'work'), tiny=True, pipeline_cls=FakePipeline)
    assert str(err.value) == (
        f"run_pipeline({STAGE1!r}, tiny=True) needs data_root: a VOC2012-layout folder that every stage reads. "
        'For the synthetic set of the demo, run "python tools/run_pipeline.py CONFIG --tiny" from the repository: '
        'it writes WORK/data with projects.wsss_lab.data.ensure_synthetic_voc and passes it as data_root.')
    assert FakePipeline.calls == [] and not (tmp_path / 'work').exists()


def test_the_data_hint_ends_the_too_few_images_error(tmp_path, fake):
    """tools/run_pipeline.py says how its synthetic set was made (its --synthetic-images) in this error."""
    psa = _psa_with_batch(tmp_path, 31)
    with pytest.raises(ValueError) as err:
        _main(tmp_path, psa_config=psa, data_hint='--synthetic-images 30 writes 30 train_aug images')
    assert ('gives 30 images (--synthetic-images 30 writes 30 train_aug images). mmengine would stop'
            in str(err.value)), str(err.value)
    assert fake.calls == []


def _psa_with_batch(tmp_path, batch_size):
    cfg = tmp_path / f'psa_batch{batch_size}.py'
    cfg.write_text(f"_base_ = [{str(ROOT / 'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py')!r}]\n"
                   f'train_dataloader = dict(batch_size={batch_size})\n')
    return str(cfg)


def test_a_stage_without_a_full_batch_is_refused_before_any_stage_runs(tmp_path, fake, monkeypatch):
    """The 30 train_aug images of the set fill one AffinityNet batch of 30, not of 31 (it drops the last
    incomplete batch); under torchrun each process gets its share; checked before stage 1 trains."""
    split = f'{fake.data}/ImageSets/Segmentation/train_aug.txt'
    psa = _psa_with_batch(tmp_path, 31)
    with pytest.raises(ValueError) as err:
        _main(tmp_path, psa_config=psa)
    assert str(err.value) == (
        f'{psa}: affinity_train would get no batch: its train_dataloader takes batches of 31 with drop_last=True, '
        f'but the list file {split} gives 30 images. mmengine would stop with "epoch_length must be a positive '
        'integer" after the stages before it; give at least 31 images or a smaller train_dataloader.batch_size.')
    assert fake.calls == [] and not (tmp_path / 'work/baseline/.done').exists()
    # two processes get 15 images each: a batch of 16 is too many for each (WORLD_SIZE alone, no torchrun:
    # no process group to start)
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setattr('mmdoei.apis.pipeline.join_process_group', lambda launcher, cfg=None: None)
    with pytest.raises(ValueError, match=r'takes batches of 16 with drop_last=True, but the list file .* gives 30 '
                       r'images shared by 2 processes \(15 each\)\. .* give at least 32 images'):
        _main(tmp_path, launcher='pytorch')
    assert fake.calls == []
    # a batch of 30 in one process runs; stage 1 keeps its last batch (32 > 30) and DeepLab's infinite sampler
    # always fills one
    monkeypatch.delenv('WORLD_SIZE')
    _main(tmp_path, psa_config=_psa_with_batch(tmp_path, 30))
    assert stages(fake, 'baseline') == list(STAGES)
    # a finished run is not checked again: its stages are not rerun
    fake.calls = []
    _main(tmp_path, psa_config=_psa_with_batch(tmp_path, 30))
    assert fake.calls == []
    # another stage-2 config is another input of stage 2: it is checked again before anything runs
    with pytest.raises(ValueError, match='affinity_train would get no batch'):
        _main(tmp_path, psa_config=psa)
    assert fake.calls == []


def test_a_changed_input_is_refused_naming_the_stage_folder_and_reruns_with_overwrite(tmp_path, fake):
    """A stage whose outputs were made from other inputs (here: another stage-1 schedule, a replaced
    checkpoint) is never resumed or reported: refused with the folder, the differing field and the flag;
    ``overwrite`` redoes it and every later stage."""
    _main(tmp_path, stage1_epochs=1)
    base = tmp_path / 'work/baseline'
    fake.calls = []
    with pytest.raises(ValueError) as err:
        _main(tmp_path, stage1_epochs=2)
    msg = str(err.value)
    assert msg.startswith(f'the stage1_train stage (stage1/) in {base} holds outputs made with other settings '
                          '(old -> new):\n  config.default_hooks.checkpoint.interval: 1 -> 2\n'), msg
    assert '\n  config.train_cfg.max_epochs: 1 -> 2\n' in msg
    assert msg.endswith('rerun tools/run_pipeline.py with --overwrite (overwrite=True in run_pipeline), or '
                        '--from-stage stage1_train to delete its outputs and start again.')
    assert fake.calls == [] and finished(base) == sorted(STAGES)
    _main(tmp_path, stage1_epochs=2, overwrite=True)
    assert stages(fake) == list(STAGES)
    # the CAM stage's checkpoint replaced by another file: the CAMs and everything after them are redone
    Path(json.loads((base / '.done/stage1_train.json').read_text())['results']['checkpoint']).write_bytes(b'other')
    fake.calls = []
    with pytest.raises(ValueError, match=r'^the cams stage \(cams/\) in .* \(old -> new\):\n  files.checkpoint: '
                       r'"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" -> "[0-9a-f]{64}" '
                       r'\(was \{.checkpoint.: .*stage1/iter_1.pth.\}'):
        _main(tmp_path, stage1_epochs=2)
    _main(tmp_path, stage1_epochs=2, overwrite=True)
    assert stages(fake) == list(STAGES[1:])
    fake.calls = []
    _main(tmp_path, stage1_epochs=2)  # unchanged: nothing recomputed
    assert fake.calls == []


# ---------------------------------------------------------------------- issue 24: what a reset or overwrite deletes
def test_a_first_run_keeps_files_it_did_not_write_and_refuses_unrecorded_outputs_up_front(tmp_path, fake):
    """A first run resets the later stages: it used to delete their whole folders, record or not. Files
    matching no stage output stay; files matching one (a mask in pseudo_masks/) without a record are
    refused before any stage runs, naming them, and kept."""
    base = tmp_path / 'work/baseline'
    (base / 'stage3').mkdir(parents=True)
    (base / 'stage3/notes.txt').write_text('mine')
    (base / 'pseudo_masks').mkdir()
    (base / 'pseudo_masks/mymask.png').write_bytes(b'mine')
    with pytest.raises(ValueError) as err:
        _main(tmp_path)
    assert str(err.value) == (
        f'the pseudo_masks stage (pseudo_masks/, stage2_infer/) in {base} holds outputs (pseudo_masks/mymask.png) '
        f'but no record {base}/.done/pseudo_masks.json saying this pipeline made them (an older mmdoei, or files '
        'put there by hand); pseudo_masks runs after stage1_train and would mix them with its own. Nothing was '
        'changed. Move them away, or rerun tools/run_pipeline.py with --overwrite (overwrite=True in run_pipeline) '
        'to delete them.')
    assert fake.calls == [] and (base / 'pseudo_masks/mymask.png').read_bytes() == b'mine'
    (base / 'pseudo_masks/mymask.png').unlink()
    _main(tmp_path)
    assert stages(fake) == list(STAGES)
    assert (base / 'stage3/notes.txt').read_text() == 'mine'


def test_overwrite_deletes_only_the_files_a_stage_writes_and_says_why(tmp_path, fake, capsys):
    """--overwrite redoes a stage made from other inputs and the later ones: their checkpoints, logs, CAMs
    and records go, a user's files in those folders stay; the log line says the stage was made from other
    inputs (it said "is unfinished")."""
    _main(tmp_path, stage1_epochs=1)
    base = tmp_path / 'work/baseline'
    mine = {'stage1/mine.txt': b'1', 'stage1/my_backup.pth': b'2', 'cams/mine.txt': b'3',
            'stage3/20990101_000000.txt': b'4'}
    for rel, data in mine.items():
        (base / rel).write_bytes(data)
    (base / 'stage1/20990101_000000').mkdir()  # a log folder of mmengine's: an output
    (base / 'stage1/epoch_7.pth').write_bytes(b'old')
    capsys.readouterr()
    fake.calls = []
    _main(tmp_path, stage1_epochs=2, overwrite=True)
    assert stages(fake) == list(STAGES)
    assert {rel: (base / rel).read_bytes() for rel in mine} == mine
    assert not (base / 'stage1/20990101_000000').exists() and not (base / 'stage1/epoch_7.pth').exists()
    log = capsys.readouterr().out
    assert (f"[pipeline] baseline: stage1_train was made from other inputs; removing the later stages "
            f"{list(STAGES[1:])}\n[pipeline] baseline: stage1_train was made from other inputs; overwriting it\n"
            in log), log
    assert 'is unfinished' not in log


def test_a_symlinked_stage_folder_is_refused_before_anything_is_deleted(tmp_path, fake):
    """A stage folder linked elsewhere: --overwrite used to delete a record, then stop with "Cannot call
    rmtree on a symbolic link" naming nothing; now nothing is deleted and the link is named."""
    _main(tmp_path, stage1_epochs=1)
    base = tmp_path / 'work/baseline'
    elsewhere = tmp_path / 'elsewhere'
    (base / 'stage3').rename(elsewhere)
    (base / 'stage3').symlink_to(elsewhere)
    records = {p.name: p.read_bytes() for p in (base / '.done').iterdir()}
    fake.calls = []
    with pytest.raises(ValueError) as err:
        _main(tmp_path, stage1_epochs=2, overwrite=True)
    assert str(err.value) == (
        f'the seg_train stage (stage3/) in {base}: {base}/stage3 is a symbolic link (to {elsewhere}), and its '
        'outputs are not deleted through it. Nothing was deleted: replace the link by a folder (or write '
        'elsewhere) and rerun.')
    assert fake.calls == [] and (elsewhere / 'iter_1.pth').is_file() and (base / 'stage1/iter_1.pth').is_file()
    assert {p.name: p.read_bytes() for p in (base / '.done').iterdir()} == records


def test_a_finished_record_without_its_results_names_the_file(tmp_path, fake):
    """A hand-edited but valid record ("results": {}) crashed with KeyError: 'checkpoint'."""
    _main(tmp_path)
    record = tmp_path / 'work/baseline/.done/stage1_train.json'
    data = json.loads(record.read_text())
    data['results'] = {}
    record.write_text(json.dumps(data))
    fake.calls = []
    with pytest.raises(ValueError) as err:
        _main(tmp_path)
    assert str(err.value) == (
        f'{record}: not a readable mmdoei output record (finished, but its results lack checkpoint, seconds, '
        'which the stage1_train stage hands on); delete it, or rerun with --from-stage stage1_train (from_stage '
        'in run_pipeline) to redo that stage and the ones after it')
    assert fake.calls == []
    _main(tmp_path, from_stage='stage1_train')
    assert stages(fake) == list(STAGES)


def test_a_finished_stage_whose_outputs_were_deleted_is_refused_naming_from_stage(tmp_path, fake):
    """A finished stage's masks deleted by hand: it was skipped and DeepLab failed on missing masks later."""
    _main(tmp_path)
    base = tmp_path / 'work/baseline'
    (base / 'pseudo_masks/2007_000001.png').unlink()
    fake.calls = []
    with pytest.raises(ValueError) as err:
        _main(tmp_path)
    assert str(err.value) == (
        f'the pseudo_masks stage in {base} is recorded as finished ({base}/.done/pseudo_masks.json), but 1 of the '
        f'1 files it wrote in {base}/pseudo_masks are missing (deleted by hand?). Nothing was changed. Rerun with '
        '--from-stage pseudo_masks (from_stage in run_pipeline) to redo it and the stages after it.')
    assert fake.calls == []
    (base / 'stage1/iter_1.pth').unlink()
    with pytest.raises(ValueError, match=r'^the stage1_train stage in .* but its checkpoint .*/stage1/iter_1.pth is '
                       r'missing \(deleted by hand\?\)\. .* --from-stage stage1_train '):
        _main(tmp_path)
    _main(tmp_path, from_stage='stage1_train')
    assert stages(fake) == list(STAGES)


def test_the_step_docstring_says_when_a_moved_work_directory_keeps_its_fingerprint():
    """With the tiny synthetic set in WORK/data its absolute path is in every stage's config: the docstring
    no longer promises that any moved work directory "stays the same"."""
    doc = ' '.join(WSSSPipeline.step.__doc__.split())
    assert 'stays the same' not in doc
    assert ('A moved work directory keeps its fingerprints when the data set lies outside it (``data_root``, '
            '``--data-root``)' in doc)
    assert "the data root's absolute path is part of every stage's config, so a moved work directory is refused" in doc
