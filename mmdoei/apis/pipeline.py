"""The whole WSSS pipeline in one work directory, in-process.

For each variant (the stage-1 config; with ``doei=True`` also the same config
with DOEI on) the stages run in order, each through mmengine's ``Runner`` (or
the evaluation functions) in this process, and hand their results back:

    stage1_train    the classifier                      -> stage1/
    cams            CAMs of the CAM split                -> cams/
    seed_eval       seed mIoU (threshold sweep)          -> seed_eval/
    affinity_train  AffinityNet on those CAMs            -> stage2/
    pseudo_masks    random-walk pseudo masks             -> pseudo_masks/
    mask_eval       mask mIoU                            -> mask_eval/
    seg_train       DeepLab on the masks (val, 1 scale)  -> stage3/
    seg_test        its tta_model/tta_pipeline on val    -> stage3_test/

Before the first stage runs, every training stage still to run is checked
to get at least one batch from its list file (:func:`check_full_batches`).
Each stage is a step (:mod:`mmdoei.apis.steps`): its record
``WORK/VARIANT/.done/STAGE.json`` holds the fingerprint of what decides it
(its config values, the checkpoint it loads, its image lists, the stage
before it, mmdoei's version) and, once finished, its results. A rerun skips
each stage whose record is finished with the same fingerprint and starts at
the first other one: an unfinished record (a killed run) resumes within the
stage (training, CAM files, pseudo masks continue where they stopped); a
record of other inputs (another config value, a replaced checkpoint, another
list) is refused with the folder and the differing fields, unless
``overwrite`` (``--overwrite``) deletes that stage's outputs. The outputs of
later stages are removed first, since they were made from what is being
redone: only the files each stage writes (:data:`STAGE_FILES`), only for
stages this pipeline recorded; files of a later stage without a record are
refused up front (``--overwrite`` deletes them), a stage folder that is a
symbolic link is refused before anything is deleted, and files matching no
output (a user's notes, backups) always stay. Under ``torchrun``
(``launcher='pytorch'``) every stage runs on all ranks; scores are computed
on rank 0 and shared. One run at a time per work directory
(:func:`work_dir_lock`).

The stage-1 unit the demo and the DOEI sweep run (:func:`stage1_cfg`,
:func:`train_stage1`, :func:`cams_and_seeds`) lives here too, so that a
number in the sweep's CSV, a row of the demo's table and the pipeline's
stage 1 come from one code path with one kind of record.

``tools/run_pipeline.py`` is the command line of :func:`run_pipeline`; with
``--tiny`` and no ``--data-root`` it writes the synthetic set of the demo
(``projects/wsss_lab``, not part of the installed package) and passes it as
``data_root``.
"""
import contextlib
import copy
import json
import math
import os
import os.path as osp
import shutil
import time
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Tuple, Union

from mmengine.config import Config
from mmengine.dist import barrier, broadcast_object_list, get_rank, init_dist, is_distributed
from mmengine.runner import Runner

from mmdoei.cam.io import cam_files, config_cam_suffix
from mmdoei.evaluation import build_report, evaluate_cam_dir, evaluate_pred_dir, write_report
from mmdoei.evaluation.seed_eval import evaluate_seeds
from mmdoei.utils import atomic_write, setup_env
from mmdoei.utils.files import read_split
from mmdoei.utils.locks import LockedError, UnsafeLockFileError, folder_lock
from mmdoei.utils.record import (KINDS, OutputConflict, RecordError, check_discard, discard, outputs_of, outputs_text,
                                 read_record)
from .config_surgery import apply_tta, cam_generation_cfg, set_cam_dir, set_data_root, shorten_schedule
from .pseudo_masks import run_psa_inference
from .steps import Step, config_values, register_step_kind

#: The repository, whose ``configs/`` hold the default stage-2 and stage-3 configs.
REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = ('stage1_train', 'cams', 'seed_eval', 'affinity_train', 'pseudo_masks', 'mask_eval', 'seg_train',
          'seg_test')
#: What mmengine's Runner writes in a training run's work_dir: checkpoints, their marker, and (as the
#: sub-folder pattern) the timestamped log folder of each run. Its dump of the config (``<config name>.py``)
#: is left out: a user's ``*.py`` there must not be deleted, and a rerun writes its own anyway.
RUNNER_CHECKPOINTS = ('epoch_*.pth', 'iter_*.pth', 'best_*.pth', 'last_checkpoint')
RUNNER_LOGS = '20??????_??????'
#: The files (globs) and sub-folders (globs) each stage writes under the variant's folder: what resetting
#: or overwriting it deletes (files matching none of them, e.g. a user's notes, are kept).
STAGE_FILES = {
    'stage1_train': ([f'stage1/{p}' for p in RUNNER_CHECKPOINTS], [f'stage1/{RUNNER_LOGS}']),
    'cams': (['cams/*.npz', 'cams/.mmdoei-record.json'], ['cams/overlays']),  # the CAM loop's files and record
    'seed_eval': (['seed_eval/seed_eval.json', 'seed_eval/seed_*.png'], []),
    'affinity_train': ([f'stage2/{p}' for p in RUNNER_CHECKPOINTS] + ['cams_crf/*.npz'], [f'stage2/{RUNNER_LOGS}']),
    'pseudo_masks': (['pseudo_masks/*.png', 'pseudo_masks/.mmdoei-record.json'], [f'stage2_infer/{RUNNER_LOGS}']),
    'mask_eval': (['mask_eval/seed_eval.json', 'mask_eval/seed_*.png'], []),
    'seg_train': ([f'stage3/{p}' for p in RUNNER_CHECKPOINTS], [f'stage3/{RUNNER_LOGS}']),
    'seg_test': ([], [f'stage3_test/{RUNNER_LOGS}']),
}
#: The folders each stage writes in under the variant's folder (for messages), from STAGE_FILES.
STAGE_OUTPUTS = {stage: list(dict.fromkeys(p.split('/')[0] for p in files + dirs))
                 for stage, (files, dirs) in STAGE_FILES.items()}
#: What each finished stage's record must hold: the results later stages and the summary read.
STAGE_RESULTS = {
    'stage1_train': ('checkpoint', ), 'cams': ('cam_dir', 'num_files'),
    'seed_eval': ('mIoU', 'FP', 'FN', 'best_threshold'), 'affinity_train': ('checkpoint', ),
    'pseudo_masks': ('mask_dir', 'num_files'), 'mask_eval': ('mIoU', 'FP', 'FN'),
    'seg_train': ('checkpoint', 'val_mIoU'), 'seg_test': ('mIoU', 'aAcc', 'mAcc'),
}
#: Where a variant's stage records live, relative to its folder.
RECORD_DIR = '.done'
#: The step kind of each stage (:func:`mmdoei.apis.steps.register_step_kind`): its outputs are STAGE_FILES.
STAGE_KINDS = {
    stage: register_step_kind(f'pipeline.{stage}', f'the {stage} stage ({", ".join(d + "/" for d in dirs)}) in',
                              files=STAGE_FILES[stage][0], dirs=STAGE_FILES[stage][1],
                              overwrite_hint='rerun tools/run_pipeline.py with --overwrite '
                              '(overwrite=True in run_pipeline), or --from-stage ' + stage)
    for stage, dirs in STAGE_OUTPUTS.items()
}
#: Stage-2 and stage-3 configs by dataset; 'tiny' is the CPU scale on synthetic 64 x 64 data.
DEFAULT_CONFIGS = {
    'voc': ('configs/psa/affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py',
            'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py'),
    'coco': ('configs/psa/affnet_resnet38d_1xb8-8e_coco14-448x448.py',
             'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-616k_coco14-321x321.py'),
    'tiny': ('configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py',
             'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'),
}


def write_json(path: Path, data: dict) -> None:
    """``data`` as json, atomically."""
    with atomic_write(path, 'w') as f:
        json.dump(data, f, indent=1)


def last_checkpoint(work_dir: Path) -> str:
    """The checkpoint mmengine's CheckpointHook names in ``last_checkpoint``."""
    marker = Path(work_dir) / 'last_checkpoint'
    if not marker.is_file():
        raise FileNotFoundError(f'{work_dir}: training left no last_checkpoint')
    return marker.read_text().strip()


#: The stages that train, with the config attribute of :class:`WSSSPipeline` they train.
TRAINING_STAGES = {'stage1_train': 'stage1_config', 'affinity_train': 'psa_config', 'seg_train': 'seg_config'}


def world_size(launcher: str) -> int:
    """The number of processes a launcher runs, from its environment (1 without one).

    Read before any Runner starts the process group, so from the variables the
    launchers set (torchrun: ``WORLD_SIZE``; Slurm: ``SLURM_NTASKS``; MPI:
    ``OMPI_COMM_WORLD_SIZE``).
    """
    if launcher == 'none':
        return 1
    for key in ('WORLD_SIZE', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE'):
        if os.environ.get(key, '').isdigit():
            return max(1, int(os.environ[key]))
    return 1


def train_list_file(cfg: Config) -> Optional[str]:
    """The list file of ``cfg.train_dataloader``'s dataset (``split`` or ``ann_file``)
    under its ``data_root``; None where the images are not listed in a text file
    (a COCO annotation JSON, a dataset wrapper)."""
    return list_file(cfg, 'train_dataloader')


def list_file(cfg: Config, dataloader: str) -> Optional[str]:
    """The list file of ``cfg[dataloader]``'s dataset, as :func:`train_list_file` (None without one)."""
    if dataloader not in cfg:
        return None
    ds = cfg[dataloader].dataset
    if 'dataset' in ds or 'datasets' in ds:
        return None
    if 'split' in ds:
        rel = ds.split
    elif 'ann_file' in ds:
        rel = ds.ann_file
    elif ds.get('type') == 'VOCWSSSDataset':
        rel = 'ImageSets/Segmentation/train_aug.txt'  # its default split
    else:
        return None
    if not rel or not str(rel).endswith('.txt'):
        return None
    return rel if osp.isabs(rel) else osp.join(ds.get('data_root') or '', rel)


def check_full_batches(stage: str, config: str, cfg: Config, processes: int = 1, hint: str = '') -> None:
    """Refuse a training stage whose dataloader would yield no batch.

    An epoch-based loop whose dataloader drops the last incomplete batch
    (``drop_last=True``, PSA's AffinityNet) gets no batch at all from fewer
    images per process than ``batch_size``, and mmengine stops with "epoch_length
    must be a positive integer", after every earlier stage has run. Counted
    from the list file (``split`` / ``ann_file``) under the data root; an
    ``InfiniteSampler`` (iteration-based training) always fills its batches.

    Args:
        stage: The stage's name (for the message).
        config: The config's path (for the message).
        cfg: The stage's config, with the data root it will train on.
        processes: How many processes share the images.
        hint: Appended to the message (how this run chose the data).

    Raises:
        ValueError: naming the config, the list file, its image count and the batch size.
        FileNotFoundError: naming the list file when it does not exist.
    """
    dl = cfg.train_dataloader
    sampler = dl.get('sampler') or {}
    if sampler.get('type') == 'InfiniteSampler':
        return
    path = train_list_file(cfg)
    if path is None:
        return
    count = len(read_split(path))  # names the file when it is missing, empty or not a list
    per_process = math.ceil(count / processes) if sampler.get('round_up', True) else count // processes
    batch_size = dl.get('batch_size', 1)
    drop_last = bool(dl.get('drop_last', False))
    needed = batch_size if drop_last else 1
    if per_process < needed:
        shared = f' shared by {processes} processes ({per_process} each)' if processes > 1 else ''
        raise ValueError(
            f'{config}: {stage} would get no batch: its train_dataloader takes batches of {batch_size} with '
            f'drop_last={drop_last}, but the list file {path} gives {count} images{shared}{hint}. mmengine would '
            'stop with "epoch_length must be a positive integer" after the stages before it; give at least '
            f'{needed * processes} images or a smaller train_dataloader.batch_size.')


def _on_rank0(fn):
    """``fn()`` on rank 0, its result shared with every rank (one process: just ``fn()``)."""
    result = [fn() if get_rank() == 0 else None]
    broadcast_object_list(result)
    return result[0]


class WSSSPipeline:
    """The stages of one variant (baseline or DOEI) in ``work_dir``.

    Each stage is a method that builds its config and calls one of four
    actions: :meth:`train`, :meth:`test` (a Runner), :meth:`pseudo_masks_run`
    (:func:`run_psa_inference`) and :meth:`score` (the seed evaluation). Tests
    replace the actions to check the orchestration in seconds.

    Args:
        name: Variant name (the folder under the work directory).
        stage1_config: Its classifier config (with ``cam_dataloader`` and ``cam_eval``).
        work_dir: The variant's folder.
        data_root: Dataset folder of every stage (None: the configs' own).
        psa_config, seg_config: Stage-2 and stage-3 configs.
        stage1_epochs, psa_epochs, seg_iters: Shorter schedules (None: the configs').
        launcher: mmengine's launcher (``'pytorch'`` under torchrun).
    """

    def __init__(self, name: str, stage1_config: str, work_dir: Union[str, Path], data_root: Optional[str],
                 psa_config: str, seg_config: str, stage1_epochs: Optional[int] = None,
                 psa_epochs: Optional[int] = None, seg_iters: Optional[int] = None, launcher: str = 'none',
                 overwrite: bool = False) -> None:
        self.name = name
        self.stage1_config = stage1_config
        self.dir = Path(work_dir)
        self.data_root = data_root
        self.psa_config = psa_config
        self.seg_config = seg_config
        self.stage1_epochs = stage1_epochs
        self.psa_epochs = psa_epochs
        self.seg_iters = seg_iters
        self.launcher = launcher
        self.overwrite = overwrite
        self.stage1_cfg = Config.fromfile(stage1_config)
        self._parsed: Dict[str, Config] = {}

    def load(self, path: str) -> Config:
        """A copy of the config file ``path``, parsed once: every run and rerun builds each stage's config
        for its fingerprint (:meth:`step`), and parsing the ``_base_`` chain is most of that time."""
        if path not in self._parsed:
            self._parsed[path] = Config.fromfile(path)
        return copy.deepcopy(self._parsed[path])

    # ------------------------------------------------------------------ bookkeeping
    def record_file(self, stage: str) -> str:
        """The record of ``stage``, relative to the variant's folder."""
        return f'{RECORD_DIR}/{stage}.json'

    def marker(self, stage: str) -> Path:
        """The record of ``stage`` (finished: it holds its results)."""
        return self.dir / self.record_file(stage)

    def done(self, stage: str) -> Optional[dict]:
        """The results of a finished stage (whatever its inputs), or None.

        Raises:
            RecordError: naming the record when it is finished but lacks a result the later stages or the
                summary read (:data:`STAGE_RESULTS`, e.g. a hand-edited ``"results": {}``).
        """
        record = read_record(self.dir, self.record_file(stage))
        if record is None or record.results is None:
            return None
        missing = [k for k in (*STAGE_RESULTS[stage], 'seconds') if k not in record.results]
        if missing:
            raise RecordError(
                f'{self.marker(stage)}: not a readable mmdoei output record (finished, but its results lack '
                f'{", ".join(missing)}, which the {stage} stage hands on); delete it, or rerun with --from-stage '
                f'{stage} (from_stage in run_pipeline) to redo that stage and the ones after it')
        return record.results

    def check_outputs(self, stage: str) -> None:
        """Refuse a stage recorded as finished whose main output is gone (a checkpoint, the CAM or mask files
        it counted), naming it: the later stages would read it, and fail far from the cause.

        Raises:
            OutputConflict: naming the stage, its record, what is missing and ``--from-stage STAGE``.
        """
        results = self.done(stage)
        if results is None:
            return
        missing = None
        if 'checkpoint' in STAGE_RESULTS[stage] and not Path(results['checkpoint']).is_file():
            missing = f'its checkpoint {results["checkpoint"]}'
        elif stage in ('cams', 'pseudo_masks'):
            folder = Path(results['cam_dir' if stage == 'cams' else 'mask_dir'])
            found = len(cam_files(folder, config_cam_suffix(self.stage1_cfg)) if stage == 'cams' else
                        list(folder.glob('*.png')))
            if found < results['num_files']:
                missing = f'{results["num_files"] - found} of the {results["num_files"]} files it wrote in {folder}'
        if missing:
            raise OutputConflict(
                f'the {stage} stage in {self.dir} is recorded as finished ({self.marker(stage)}), but '
                f'{missing} {"are" if missing[0].isdigit() else "is"} missing (deleted by hand?). Nothing was '
                f'changed. Rerun with --from-stage {stage} (from_stage in run_pipeline) to redo it and the stages '
                'after it.')

    def step(self, stage: str) -> Step:
        """``stage`` as a step: its record's fingerprint is of the config it runs with (with this variant's
        folder written as ``{work}``), the checkpoint it loads, its image lists, the stage before it and
        mmdoei's version.

        A moved work directory keeps its fingerprints when the data set lies outside it (``data_root``,
        ``--data-root``): only then is every path in the configs either under ``{work}`` or unchanged. With
        the tiny synthetic set in ``WORK/data`` (``tools/run_pipeline.py --tiny`` without ``--data-root``),
        the data root's absolute path is part of every stage's config, so a moved work directory is
        refused as made from other inputs (move it back, or rerun with ``--overwrite``).

        Only for a stage whose earlier stages are finished (it reads their results).
        """
        cfg, files, lists = self.inputs(stage)
        index = STAGES.index(stage)
        before = {}
        if index:
            prev = read_record(self.dir, self.record_file(STAGES[index - 1]))
            before = {STAGES[index - 1]: None if prev is None else prev.fingerprint}
        config = json.loads(json.dumps(config_values(cfg), sort_keys=True, default=str).replace(
            json.dumps(str(self.dir))[1:-1], '{work}'))
        return Step.of(STAGE_KINDS[stage], self.dir, config=config, files=files,
                       lists={k: v for k, v in lists.items() if v}, steps=before,
                       record_file=self.record_file(stage))

    def inputs(self, stage: str) -> Tuple[dict, dict, dict]:
        """What decides ``stage``: ``(config, checkpoint files, list files)``."""
        if stage in ('seed_eval', 'mask_eval'):
            ev = dict(self.stage1_cfg.cam_eval)
            root = self.data_root or ev['data_root']
            return dict(cam_eval=ev, data_root=root), {}, dict(eval=osp.join(root, ev['split']))
        cfg = getattr(self, f'{stage}_cfg')()
        files = {'checkpoint': cfg.load_from} if cfg.get('load_from') else {}
        lists = dict(train=train_list_file(cfg)) if stage in TRAINING_STAGES else {}
        if stage == 'cams':
            lists['cams'] = list_file(cfg, 'cam_dataloader')
        elif stage == 'pseudo_masks':
            files['checkpoint'] = self.done('affinity_train')['checkpoint']
            lists['train'] = train_list_file(cfg)
        elif stage == 'seg_test':
            lists['test'] = list_file(cfg, 'test_dataloader')
        return cfg, files, lists

    def plan(self) -> Tuple[Optional[str], str, Optional[Step]]:
        """The first stage not finished with its current inputs, its status (:meth:`Step.status`) and its
        step; ``(None, 'done', None)`` when every stage is."""
        for stage in STAGES:
            step = self.step(stage)
            status = step.status()
            if status != 'done':
                return stage, status, step
            self.check_outputs(stage)
        return None, 'done', None

    def first_unfinished(self) -> Optional[str]:
        """The first stage not finished with its current inputs, or None."""
        return self.plan()[0]

    def reset_from(self, stage: str, unrecorded: bool = False) -> None:
        """Remove the records and outputs of ``stage`` and every later stage that this pipeline recorded.

        Only the files a stage writes (:data:`STAGE_FILES`) go; a stage without a record keeps its folder's
        files (``unrecorded``: those matching its outputs go too, as ``--overwrite`` asks), and its stage
        refuses them when it runs. Every path is checked before anything is deleted (a stage folder that is
        a symbolic link is refused, naming it).
        """
        stages = [s for s in STAGES[STAGES.index(stage):] if unrecorded or self.marker(s).is_file()]
        self.discard(stages)

    def discard(self, stages: Iterable[str]) -> None:
        """Delete the records and outputs of ``stages``, all checked first (:func:`check_discard`).

        Called on every rank: each checks (so a refusal stops them all alike), rank 0 deletes.
        """
        stages = list(stages)
        for s in stages:
            check_discard(self.dir, STAGE_KINDS[s])
        if get_rank() == 0:
            for s in stages:
                discard(self.dir, STAGE_KINDS[s], self.record_file(s))

    def refuse_unrecorded(self, stages: Iterable[str], start: str) -> None:
        """Refuse files in the folders of ``stages`` (to run after ``start``) that match their outputs but
        have no record: this pipeline did not write them, so they are neither deleted nor reused.

        Raises:
            OutputConflict: naming the stage, the files and how to go on.
        """
        for s in stages:
            found = [] if self.marker(s).is_file() else outputs_of(self.dir, STAGE_KINDS[s])
            if found:
                raise OutputConflict(
                    f'{KINDS[STAGE_KINDS[s]].what} {self.dir} holds outputs ({outputs_text(self.dir, found)}) but '
                    f'no record '
                    f'{self.marker(s)} saying this pipeline made them (an older mmdoei, or files put there by '
                    f'hand); {s} runs after {start} and would mix them with its own. Nothing was changed. Move '
                    'them away, or rerun tools/run_pipeline.py with --overwrite (overwrite=True in run_pipeline) '
                    'to delete them.')

    def config(self, path: str, stage: str, work: str) -> Config:
        """A stage's config: data root, launcher, work dir, its own run name."""
        cfg = self.load(path)
        if self.data_root:
            set_data_root(cfg, self.data_root)
        cfg.launcher = self.launcher
        cfg.work_dir = str(self.dir / work)
        # One process runs many Runners: each gets loggers and visualizers of its own.
        cfg.experiment_name = f'{self.name}_{stage}_{time.strftime("%Y%m%d_%H%M%S")}'
        return cfg

    def check_training_data(self, stages: Iterable[str], hint: str = '') -> None:
        """:func:`check_full_batches` for each training stage of ``stages``,
        on the config (and data root) that stage will train with."""
        for stage in stages:
            if stage in TRAINING_STAGES:
                path = getattr(self, TRAINING_STAGES[stage])
                check_full_batches(stage, path, self.config(path, stage, stage), world_size(self.launcher), hint)

    # ------------------------------------------------------------------ actions
    def train(self, stage: str, cfg: Config) -> dict:
        """Train (resuming in ``cfg.work_dir``); the last checkpoint and the last validation metrics."""
        cfg.resume = True
        cfg.load_from = None
        runner = Runner.from_cfg(cfg)
        runner.train()
        scalars = runner.message_hub.log_scalars
        val = {k[len('val/'):]: float(v.current()) for k, v in scalars.items() if k.startswith('val/')}
        return dict(checkpoint=last_checkpoint(Path(cfg.work_dir)), val=val)

    def test(self, stage: str, cfg: Config) -> dict:
        """Run the config's test loop; its metrics."""
        return dict(Runner.from_cfg(cfg).test() or {})

    def pseudo_masks_run(self, cfg: Config, checkpoint: str, cam_dir: str, out_dir: str, work_dir: str) -> dict:
        """Random-walk pseudo masks (:func:`run_psa_inference`, resuming)."""
        return run_psa_inference(cfg, checkpoint, cam_dir, out_dir, launcher=self.launcher, evaluate=False,
                                 work_dir=work_dir)

    def score(self, stage: str, kind: str, folder: str, out_dir: str) -> dict:
        """The seed report of a CAM (``kind='cam'``) or mask folder on the
        ``cam_eval`` split, also written to ``out_dir``.
        """
        ev = self.stage1_cfg.cam_eval
        root = self.data_root or ev['data_root']
        split = osp.join(root, ev['split'])
        args = (folder, osp.join(root, ev['gt_dir']), read_split(split))
        kwargs = dict(num_classes=ev['num_classes'], progress=False, listed_by=f'split file {split}')
        result = (evaluate_cam_dir(*args, suffix=config_cam_suffix(self.stage1_cfg), **kwargs) if kind == 'cam' else
                  evaluate_pred_dir(*args, **kwargs))
        report = build_report(result)
        write_report(report, out_dir)
        return report

    # ------------------------------------------------------------------ stages
    # Each stage's config is built by its ``*_cfg`` method, which the fingerprint (:meth:`inputs`) reads too.
    def stage1_train_cfg(self) -> Config:
        cfg = self.config(self.stage1_config, 'stage1_train', 'stage1')
        if self.stage1_epochs:
            shorten_schedule(cfg, self.stage1_epochs)
        return cfg

    def stage1_train(self) -> dict:
        return dict(checkpoint=self.train('stage1_train', self.stage1_train_cfg())['checkpoint'])

    def cams_cfg(self) -> Config:
        cfg = self.config(self.stage1_config, 'cams', 'stage1')
        # Stage 2 needs a CAM for every image it trains and walks on (VOC: train_aug); a
        # stage-1 config may list fewer (the demo's: train, for seed scores only).
        split = self.load(self.psa_config).train_dataloader.dataset.get('split')
        if split:
            cfg.cam_dataloader.dataset.split = split
        cam_generation_cfg(cfg, str(self.dir / 'cams'))
        cfg.load_from = self.done('stage1_train')['checkpoint']
        return cfg

    def cams(self) -> dict:
        out, cfg = self.dir / 'cams', self.cams_cfg()
        self.test('cams', cfg)
        return dict(cam_dir=str(out), num_files=len(cam_files(out, config_cam_suffix(cfg))))

    def seed_eval(self) -> dict:
        report = _on_rank0(lambda: self.score('seed_eval', 'cam', str(self.dir / 'cams'), str(self.dir / 'seed_eval')))
        return dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'], best_threshold=report['best_threshold'])

    def affinity_train_cfg(self) -> Config:
        cfg = self.config(self.psa_config, 'affinity_train', 'stage2')
        if not set_cam_dir(cfg, str(self.dir / 'cams'), str(self.dir / 'cams_crf'), config_cam_suffix(self.stage1_cfg)):
            raise ValueError(f'{self.psa_config}: no CAM-reading transform in its pipelines to point at the CAMs')
        if self.psa_epochs:
            shorten_schedule(cfg, self.psa_epochs)
        return cfg

    def affinity_train(self) -> dict:
        return dict(checkpoint=self.train('affinity_train', self.affinity_train_cfg())['checkpoint'])

    def pseudo_masks_cfg(self) -> Config:
        cfg = self.config(self.psa_config, 'pseudo_masks', 'stage2_infer')
        set_cam_dir(cfg, str(self.dir / 'cams'), cam_suffix=config_cam_suffix(self.stage1_cfg))  # the cams' suffix
        # A constant background score in the random walk is the seed threshold of the CAMs
        # at hand ("use yours" in the MCTformer-style config): take the sweep's best.
        if cfg.model.get('test_cfg', {}).get('bg_threshold') is not None:
            cfg.model.test_cfg.bg_threshold = self.done('seed_eval')['best_threshold']
        return cfg

    def pseudo_masks(self) -> dict:
        cfg = self.pseudo_masks_cfg()
        note = {}
        if cfg.model.get('test_cfg', {}).get('bg_threshold') is not None:
            note = dict(bg_threshold=cfg.model.test_cfg.bg_threshold)
        out = self.dir / 'pseudo_masks'
        self.pseudo_masks_run(cfg, self.done('affinity_train')['checkpoint'], str(self.dir / 'cams'), str(out),
                              cfg.work_dir)
        return dict(mask_dir=str(out), num_files=len(list(out.glob('*.png'))), **note)

    def mask_eval(self) -> dict:
        report = _on_rank0(
            lambda: self.score('mask_eval', 'mask', str(self.dir / 'pseudo_masks'), str(self.dir / 'mask_eval')))
        return dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'])

    def seg_train_cfg(self) -> Config:
        cfg = self.config(self.seg_config, 'seg_train', 'stage3')
        cfg.train_dataloader.dataset.pseudo_mask_dir = str(self.dir / 'pseudo_masks')
        if self.seg_iters:
            shorten_schedule(cfg, self.seg_iters)
        return cfg

    def seg_train(self) -> dict:
        result = self.train('seg_train', self.seg_train_cfg())
        return dict(checkpoint=result['checkpoint'], val_mIoU=result['val'].get('mIoU'))

    def seg_test_cfg(self) -> Config:
        cfg = apply_tta(self.config(self.seg_config, 'seg_test', 'stage3_test'))
        cfg.load_from = self.done('seg_train')['checkpoint']
        return cfg

    def seg_test(self) -> dict:
        metrics = self.test('seg_test', self.seg_test_cfg())
        if 'mIoU' not in metrics:
            raise RuntimeError(f'{self.seg_config}: the test with its tta_model reported no mIoU ({metrics})')
        return {k: float(metrics[k]) for k in ('mIoU', 'aAcc', 'mAcc')}  # numpy scalars from mmseg

    # ------------------------------------------------------------------ driver
    def run(self) -> Dict[str, dict]:
        """Run the stages not finished with their current inputs; returns every stage's results.

        Raises:
            ValueError: the first such stage's outputs were made from other inputs and ``overwrite`` is
                off: the message names the folder, the differing fields and ``--overwrite``; nothing changed.
        """
        setup_env()
        start, status, step = self.plan()
        if start is not None:
            if status == 'changed' and not self.overwrite:
                step.start()  # refuses, naming the folder, the differing fields and the flag
            later = STAGES[STAGES.index(start) + 1:]
            if not self.overwrite:
                self.refuse_unrecorded(later, start)  # before anything is deleted or trained
            stale = [s for s in later if self.marker(s).is_file()]
            # the overwritten stage and the later stages this pipeline recorded (with --overwrite: whatever
            # matches their outputs), every path checked before the first is deleted
            doomed = [start] * (status == 'changed') + [s for s in later if self.overwrite or s in stale]
            if get_rank() == 0:
                if stale:  # made from the output being redone
                    why = {'changed': 'was made from other inputs', 'resume': 'is unfinished',
                           'new': 'has not run with these inputs'}[status]
                    print(f'[pipeline] {self.name}: {start} {why}; removing the later stages {stale}')
                if status == 'changed':
                    print(f'[pipeline] {self.name}: {start} was made from other inputs; overwriting it')
            barrier()  # every rank has read the records before rank 0 deletes them
            self.discard(doomed)
            barrier()
            for stage in STAGES[STAGES.index(start):]:
                step = self.step(stage)  # the stage before has just finished: its results decide this one
                if get_rank() == 0:
                    step.start()
                barrier()
                print(f'[pipeline] {self.name}: {stage} ...', flush=True)
                t0 = time.time()
                result = getattr(self, stage)()
                result['seconds'] = round(time.time() - t0, 1)
                print(f'[pipeline] {self.name}: {stage} done in {result["seconds"]:.0f} s: {result}', flush=True)
                if get_rank() == 0:
                    step.finish(result)
                barrier()
        return {s: self.done(s) for s in STAGES}


def summary(results: Dict[str, dict]) -> Dict[str, dict]:
    """The numbers of the table, per variant."""
    rows = {}
    for name, r in results.items():
        rows[name] = dict(
            seed_mIoU=r['seed_eval']['mIoU'],
            seed_threshold=r['seed_eval']['best_threshold'],
            mask_mIoU=r['mask_eval']['mIoU'],
            val_mIoU_single_scale=r['seg_train'].get('val_mIoU'),
            val_mIoU=r['seg_test']['mIoU'],
            seconds=round(sum(s['seconds'] for s in r.values()), 1))
    return rows


def summary_table(rows: Dict[str, dict]) -> str:
    """Markdown table of :func:`summary`."""
    fmt = lambda v: '-' if v is None else f'{v:.1f}'  # noqa: E731
    lines = ['| variant | seed mIoU (train) | mask mIoU (train) | val mIoU (1 scale) | val mIoU (ms+flip+CRF) '
             '| time (s) |', '|---|---|---|---|---|---|']
    for name, r in rows.items():
        lines.append(f'| {name} | {fmt(r["seed_mIoU"])} | {fmt(r["mask_mIoU"])} | '
                     f'{fmt(r["val_mIoU_single_scale"])} | {fmt(r["val_mIoU"])} | {r["seconds"]:.0f} |')
    return '\n'.join(lines)


def doei_variant_config(config: str, out: Path) -> str:
    """A config file that is ``config`` with DOEI on (the defaults of docs/method.md)."""
    if Config.fromfile(config).model.get('doei') is not None:
        raise ValueError(f'{config} already has DOEI on; give the baseline config (or doei_config)')
    if get_rank() == 0:
        with atomic_write(out, 'w') as f:
            f.write(f'# {osp.basename(config)} with DOEI (written by mmdoei.apis.pipeline)\n'
                    f'_base_ = [{str(Path(config).resolve())!r}]\nmodel = dict(doei=dict())\n')
    barrier()
    return str(out)


def check_stage1_config(config: str, from_stage: Optional[str] = None) -> Config:
    """The stage-1 config of :func:`run_pipeline`, loaded; a ``ValueError`` naming
    the file if it lacks ``cam_dataloader``/``cam_eval``, or naming ``from_stage`` if
    that is no stage. Cheap: callers check before they write anything."""
    cfg = Config.fromfile(config)
    if 'cam_eval' not in cfg or 'cam_dataloader' not in cfg:
        raise ValueError(f'{config}: a stage-1 config needs cam_dataloader and cam_eval')
    if from_stage is not None and from_stage not in STAGES:
        raise ValueError(f'from_stage must be one of {STAGES}, got {from_stage!r}')
    return cfg


def join_process_group(launcher: str, cfg: Optional[Config] = None) -> None:
    """Start the process group of a multi-process launch now, as the first Runner would (with ``cfg``'s
    ``env_cfg.dist_cfg``): the work directory's lock, the DOEI variant's config and the barriers before the
    first stage need ranks that know who they are. Nothing for one process, or a group already started."""
    if launcher == 'none' or world_size(launcher) <= 1 or is_distributed():
        return
    setup_env()  # on a CPU-only machine, gloo instead of the config's nccl (as for the Runners)
    env_cfg = (cfg.get('env_cfg') if cfg is not None else None) or {}
    init_dist(launcher, **dict(env_cfg.get('dist_cfg') or {}))


@contextlib.contextmanager
def work_dir_lock(work: Union[str, Path], launcher: str = 'none', cfg: Optional[Config] = None) -> Iterator[Path]:
    """Hold the pipeline work directory ``work`` for the ``with`` block, so that two runs never train, reset
    or overwrite one work directory at once.

    Rank 0 takes its lock (:func:`mmdoei.utils.locks.folder_lock`, without waiting) and shares whether it got
    it (:func:`join_process_group` first), so under ``torchrun`` every rank stops with the same message
    instead of the others waiting in a barrier for ever.

    Raises:
        LockedError: on every rank, when another run holds it; the message names the folder ("in use by
            another run") and the holder.
        UnsafeLockFileError: on every rank, when the lock file is a link (nothing written through it).
    """
    join_process_group(launcher, cfg)
    with contextlib.ExitStack() as held:
        error = None
        if get_rank() == 0:
            try:
                held.enter_context(folder_lock(work, 'pipeline work directory'))
            except (LockedError, UnsafeLockFileError) as e:
                error = (isinstance(e, UnsafeLockFileError), str(e))
        shared = [error]
        broadcast_object_list(shared)
        if shared[0] is not None:
            unsafe, message = shared[0]
            raise (UnsafeLockFileError if unsafe else LockedError)(message)
        yield Path(work)


def pipeline_work_dir(config: str, work_dir: Optional[str] = None) -> Path:
    """The work directory :func:`run_pipeline` uses: ``work_dir``, by default
    ``work_dirs/pipeline/<config name>``, as an absolute path."""
    return Path(work_dir or osp.join('work_dirs', 'pipeline', Path(config).stem)).resolve()


def run_pipeline(config: str,
                 work_dir: Optional[str] = None,
                 data_root: Optional[str] = None,
                 doei: bool = False,
                 doei_config: Optional[str] = None,
                 psa_config: Optional[str] = None,
                 seg_config: Optional[str] = None,
                 tiny: bool = False,
                 data_hint: str = '',
                 stage1_epochs: Optional[int] = None,
                 psa_epochs: Optional[int] = None,
                 seg_iters: Optional[int] = None,
                 launcher: str = 'none',
                 from_stage: Optional[str] = None,
                 overwrite: bool = False,
                 command: str = '',
                 pipeline_cls: type = WSSSPipeline,
                 locked: bool = False) -> Dict[str, dict]:
    """Run every stage of the baseline (and the DOEI variant) into one work directory.

    Args:
        config: The stage-1 config, with ``cam_dataloader`` and ``cam_eval``.
        work_dir: One folder for everything (default ``work_dirs/pipeline/CONFIG``).
        data_root: Dataset folder of every stage (VOC2012 / COCO layout).
        doei: Also run ``config`` with DOEI on (``model.doei=dict()``).
        doei_config: The DOEI variant as a config of its own (implies ``doei``).
        psa_config, seg_config: Stage-2 and stage-3 configs (default by dataset).
        tiny: CPU scale: the tiny stage-2/3 configs (``data_root`` is still
            needed: ``tools/run_pipeline.py --tiny`` writes a synthetic set for it).
        data_hint: Added to the error about too few images for a batch: how
            the data set was made (e.g. the tool's ``--synthetic-images``).
        stage1_epochs, psa_epochs, seg_iters: Shorter schedules.
        launcher: mmengine's launcher (``'pytorch'`` under torchrun).
        from_stage: Redo this stage and all after it.
        overwrite: Redo a stage whose outputs were made from other inputs
            (and the later ones) instead of refusing it.
        command: The command line, for the summary.
        pipeline_cls: The class running one variant (tests pass a subclass).
        locked: The caller holds :func:`work_dir_lock` on the work directory already (the tool does, around
            the synthetic set it writes there too); otherwise it is held here throughout.

    Returns:
        The summary row of each variant (seed, mask and val mIoU, time); the
        table also goes to ``WORK/summary.md`` and, with every stage's
        results, to ``WORK/summary.json``.

    Raises:
        LockedError: another run uses the work directory (nothing was changed).
        OutputConflict: a stage's folder holds outputs of other inputs, or without a record, or its
            outputs cannot be deleted safely (nothing was changed); ``RecordError``: a record cannot be used.
    """
    if tiny and data_root is None:
        # A tiny run used to write its own synthetic set here; the package no longer carries the
        # generator (projects/wsss_lab), and falling back on each config's data_root would mix
        # data sets (the stage-1 configs read demo_out/data, the tiny stage-2/3 configs data/synthetic_voc).
        raise ValueError(
            f'run_pipeline({config!r}, tiny=True) needs data_root: a VOC2012-layout folder that every stage '
            'reads. For the synthetic set of the demo, run "python tools/run_pipeline.py CONFIG --tiny" from '
            'the repository: it writes WORK/data with projects.wsss_lab.data.ensure_synthetic_voc and passes '
            'it as data_root.')
    cfg = check_stage1_config(config, from_stage)
    work = pipeline_work_dir(config, work_dir)
    work.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext() if locked else work_dir_lock(work, launcher, cfg):
        return _run_pipeline(cfg, config, work, data_root, doei, doei_config, psa_config, seg_config, tiny,
                             data_hint, stage1_epochs, psa_epochs, seg_iters, launcher, from_stage, overwrite,
                             command, pipeline_cls)


def _run_pipeline(cfg: Config, config: str, work: Path, data_root: Optional[str], doei: bool,
                  doei_config: Optional[str], psa_config: Optional[str], seg_config: Optional[str], tiny: bool,
                  data_hint: str, stage1_epochs: Optional[int], psa_epochs: Optional[int], seg_iters: Optional[int],
                  launcher: str, from_stage: Optional[str], overwrite: bool, command: str,
                  pipeline_cls: type) -> Dict[str, dict]:
    """:func:`run_pipeline` once the work directory is held."""
    dataset = 'tiny' if tiny else ('coco' if cfg.cam_eval['num_classes'] == 81 else 'voc')
    psa_config = psa_config or str(REPO_ROOT / DEFAULT_CONFIGS[dataset][0])
    seg_config = seg_config or str(REPO_ROOT / DEFAULT_CONFIGS[dataset][1])
    data_root = str(Path(data_root).resolve()) if data_root else None

    variants = {'baseline': str(Path(config).resolve())}
    if doei or doei_config:
        variants['doei'] = (str(Path(doei_config).resolve()) if doei_config else
                            doei_variant_config(config, work / 'doei_stage1_config.py'))
    pipes = {}
    for name, variant_config in variants.items():
        pipe = pipeline_cls(name, variant_config, work / name, data_root, psa_config, seg_config,
                            stage1_epochs=stage1_epochs, psa_epochs=psa_epochs, seg_iters=seg_iters,
                            launcher=launcher, overwrite=overwrite)
        if from_stage:
            pipe.reset_from(from_stage)  # every rank checks, rank 0 deletes
        pipes[name] = pipe
    barrier()
    # Every stage still to run gets at least one batch, checked before the first one trains
    # (AffinityNet drops incomplete batches: too few images failed only after stage 1).
    hint = f' ({data_hint})' if data_hint else ''
    for pipe in pipes.values():
        start = pipe.first_unfinished()
        pipe.check_training_data(STAGES[STAGES.index(start):] if start else (), hint)
    results = {name: pipe.run() for name, pipe in pipes.items()}

    rows = summary(results)
    table = summary_table(rows)
    if get_rank() == 0:
        data = data_root or "the configs' data_root"
        rel = lambda p: osp.relpath(p, REPO_ROOT)  # noqa: E731
        text = (f'# WSSS pipeline\n\n`{command}`\n\nstage 1: `{config}`; stage 2: `{rel(psa_config)}`; '
                f'stage 3: `{rel(seg_config)}`; data: `{data}`\n\n'
                f'{table}\n\nseed: CAM seeds at the best background threshold; mask: random-walk pseudo masks; '
                'both on the stage-1 config\'s cam_eval split. val: DeepLab on the val split, single scale '
                '(end of training) and 5 scales + flip + dense CRF.\n')
        with atomic_write(work / 'summary.md', 'w') as f:
            f.write(text)
        write_json(work / 'summary.json', dict(command=command, data_root=data_root, psa_config=psa_config,
                                               seg_config=seg_config, variants=rows, stages=results))
        print('\n' + table + f'\n\nwritten: {work / "summary.md"}, {work / "summary.json"}')
    return rows


# ---------------------------------------------------------------------- the stage-1 unit of the demo and the sweep
_KEEP = object()  # "leave the config's DOEI setting as it is"

#: A stage-1 run's training folder: its checkpoints, log folders and recorded time (its CAM folders are steps of
#: their own); only what mmengine's Runner and :func:`train_stage1` write: a user's ``my_backup.pth`` is kept.
STAGE1_RUN = register_step_kind('stage1_run', 'training folder', files=(*RUNNER_CHECKPOINTS, 'train_seconds.txt'),
                                dirs=(RUNNER_LOGS, ),
                                overwrite_hint='rerun with --overwrite (overwrite=True in the API)')
#: CAMs and their seed scores: the same outputs as a CAM folder's (mmdoei.utils.record.KINDS['cams']).
CAM_SEEDS = register_step_kind('cam_seeds', 'CAM folder', files=('*.npz', ), dirs=('overlays', 'seed_eval'))
#: The file of the CAM-and-seeds step's record: the CAM folder's own record is the CAM loop's.
CAM_SEEDS_RECORD = '.mmdoei-step.json'


def stage1_cfg(config: Union[str, Config], work_dir: str, seed: int = 0, epochs: Optional[int] = None,
               data_root: Optional[str] = None, doei=_KEEP) -> Config:
    """The config of one run: data root, epochs, seed, work dir and DOEI set.

    Args:
        config: A stage-1 config (path or :class:`Config`) with ``cam_dataloader``
            and ``cam_eval``, as the demo configs.
        work_dir: The run's folder.
        seed: ``randomness.seed`` of training (with deterministic algorithms:
            a run repeats bit for bit at the config's thread count).
        epochs: Overrides ``max_epochs`` (and the one-cycle schedule's end, the
            checkpoint and validation intervals with it).
        data_root: Points every ``data_root`` of the config here.
        doei: DOEI settings for ``model.doei``; None removes DOEI; by default
            the config's own setting is kept.
    """
    # a deep copy: Config.copy() shares the nested dicts, and this edits model.doei
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if data_root:
        set_data_root(cfg, str(data_root))
    if epochs:
        shorten_schedule(cfg, epochs)
    if doei is not _KEEP:
        if doei is None:
            cfg.model.pop('doei', None)
        else:
            cfg.model.doei = dict(doei)
    cfg.randomness = dict(seed=seed, deterministic=True)
    cfg.work_dir = str(work_dir)
    return cfg


def model_checkpoints(cfg: Config) -> Dict[str, str]:
    """The checkpoints ``cfg.model`` loads (every ``checkpoint`` entry, e.g. a backbone's init_cfg), by where
    they are named (``backbone.init_cfg.checkpoint``): what a training run starts from."""
    found = {}

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == 'checkpoint' and isinstance(v, str):
                    found[path + k] = v
                else:
                    walk(v, f'{path}{k}.')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{path}{i}.')

    walk(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else cfg.model, '')
    return found


def stage1_step(cfg: Config) -> Step:
    """The training of ``cfg`` as a step in ``cfg.work_dir``: its config values, the checkpoints its model
    starts from and its train list."""
    return Step.of(STAGE1_RUN, cfg.work_dir, config=cfg, files=model_checkpoints(cfg),
                   lists={k: v for k, v in dict(train=train_list_file(cfg)).items() if v})


def train_stage1(cfg: Config, name: str = 'train', overwrite: bool = False) -> Path:
    """Train ``cfg`` unless the same training finished in ``cfg.work_dir``; returns the final checkpoint.

    The folder's record (:func:`stage1_step`) says what trained it: other
    settings, another starting checkpoint or another image list there are
    refused (naming the folder and what differs) unless ``overwrite``, which
    deletes that training first. The training time is kept in
    ``train_seconds.txt`` beside the checkpoint, so a rerun reports the same number.
    """
    setup_env()
    work = Path(cfg.work_dir)
    ckpt = work / f'epoch_{cfg.train_cfg.max_epochs}.pth'

    def train() -> dict:
        run_cfg = cfg.copy()
        run_cfg.experiment_name = name
        t0 = time.time()
        Runner.from_cfg(run_cfg).train()
        with atomic_write(work / 'train_seconds.txt', 'w') as f:
            f.write(f'{time.time() - t0:.1f}\n')
        return dict(checkpoint=ckpt.name, train_seconds=train_seconds(ckpt))

    stage1_step(cfg).run(train, overwrite=overwrite)
    return ckpt


def train_seconds(ckpt: Path) -> float:
    """The recorded training time of a checkpoint written by :func:`train_stage1` (nan if unknown)."""
    timing = Path(ckpt).parent / 'train_seconds.txt'
    return float(timing.read_text()) if timing.exists() else float('nan')


def cams_and_seeds(cfg: Config, checkpoint: str, cam_dir: str, overlay: bool = False,
                   keep_cams: bool = True, name: str = 'cams') -> dict:
    """Generate the CAMs of ``cfg``'s CAM split with ``checkpoint`` and score their seeds.

    The model is built from ``cfg`` (so its ``model.doei`` applies at
    extraction, whatever the checkpoint was trained with: DOEI adds no
    parameters). The report (``seed_eval.json`` and plots) goes to
    ``cam_dir/seed_eval``; with ``keep_cams=False`` the CAM files are removed
    afterwards (a sweep's hundreds of runs need only the numbers).

    A step (record ``cam_dir/.mmdoei-step.json``): a finished report is reused
    only if the same model settings (DOEI and CAM type included),
    CAM-generation and scoring settings, image lists and checkpoint file (its
    sha256) made it; made from other ones, the folder's CAMs, overlays and
    report are deleted and made again (the folder is this run's own: its path
    is derived from the run), never mixed with the new ones.
    """
    setup_env()
    report_file = Path(cam_dir) / 'seed_eval' / 'seed_eval.json'
    ev = cfg.get('cam_eval') or {}
    lists = dict(cams=list_file(cfg, 'cam_dataloader'))
    if ev:
        lists['eval'] = osp.join(ev['data_root'], ev['split'])
    step = Step.of(CAM_SEEDS, cam_dir,
                   config=dict(model=cfg.model.to_dict(), cam_gen=cfg.get('cam_gen'), data=cfg.get('cam_dataloader'),
                               cam_eval=ev),
                   files=dict(checkpoint=str(checkpoint)), lists={k: v for k, v in lists.items() if v},
                   record_file=CAM_SEEDS_RECORD)
    status = step.status()
    if status == 'done' and report_file.exists():
        return json.loads(report_file.read_text())
    if status == 'changed':  # other inputs made what is there: neither resume from it nor report it
        # CAMs, overlays, report and the CAM loop's record (mmdoei.utils.record), so the loop starts afresh
        discard(cam_dir, 'cams')
        step.reset()
    step.start()
    test_cfg = cam_generation_cfg(cfg.copy(), str(cam_dir), overlay=overlay)
    test_cfg.load_from = str(checkpoint)
    test_cfg.experiment_name = name
    test_cfg.work_dir = str(Path(cam_dir) / 'logs')  # not the training folder: a sweep extracts many times
    Runner.from_cfg(test_cfg).test()
    report = evaluate_seeds(cfg, str(cam_dir), progress=False)
    write_report(report, str(Path(cam_dir) / 'seed_eval'))
    if not keep_cams:
        for f in cam_files(cam_dir, config_cam_suffix(cfg)).values():
            f.unlink()
        shutil.rmtree(osp.join(cam_dir, 'overlays'), ignore_errors=True)
    step.finish(dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'],
                     best_threshold=report.get('best_threshold')))
    return report
