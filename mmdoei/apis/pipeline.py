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
A finished stage writes ``WORK/VARIANT/.done/STAGE.json`` (atomically) with
its results. A rerun starts at each variant's first stage without one; the
stages that resume within themselves (training, CAM files, pseudo masks)
continue where they stopped, and the outputs of later stages are removed
first, since they were made from what is being redone. Under ``torchrun``
(``launcher='pytorch'``) every stage runs on all ranks; scores are computed
on rank 0 and shared.

``tools/run_pipeline.py`` is the command line of :func:`run_pipeline`.
"""
import json
import math
import os
import os.path as osp
import shutil
import time
from pathlib import Path
from typing import Dict, Iterable, Optional, Union

from mmengine.config import Config
from mmengine.dist import barrier, broadcast_object_list, get_rank
from mmengine.runner import Runner

from mmdoei.evaluation import build_report, evaluate_cam_dir, evaluate_pred_dir, write_report
from mmdoei.models.segmentors import apply_tta
from mmdoei.utils import atomic_write, setup_env
from mmdoei.utils.config import set_data_root, shorten_schedule
from mmdoei.utils.files import read_split
from .cams import cam_generation_cfg
from .experiment import ensure_synthetic_voc
from .pseudo_masks import run_psa_inference, set_cam_dir

#: The repository, whose ``configs/`` hold the default stage-2 and stage-3 configs.
REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = ('stage1_train', 'cams', 'seed_eval', 'affinity_train', 'pseudo_masks', 'mask_eval', 'seg_train',
          'seg_test')
#: What each stage writes under the variant's folder (removed when an earlier stage reruns).
STAGE_OUTPUTS = {
    'stage1_train': ['stage1'],
    'cams': ['cams'],
    'seed_eval': ['seed_eval'],
    'affinity_train': ['stage2', 'cams_crf'],
    'pseudo_masks': ['pseudo_masks', 'stage2_infer'],
    'mask_eval': ['mask_eval'],
    'seg_train': ['stage3'],
    'seg_test': ['stage3_test'],
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
    ds = cfg.train_dataloader.dataset
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
                 psa_epochs: Optional[int] = None, seg_iters: Optional[int] = None, launcher: str = 'none') -> None:
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
        self.stage1_cfg = Config.fromfile(stage1_config)

    # ------------------------------------------------------------------ bookkeeping
    def marker(self, stage: str) -> Path:
        """The file that says ``stage`` is finished (and holds its results)."""
        return self.dir / '.done' / f'{stage}.json'

    def done(self, stage: str) -> Optional[dict]:
        """The results of a finished stage, or None."""
        path = self.marker(stage)
        return json.loads(path.read_text()) if path.is_file() else None

    def first_unfinished(self) -> Optional[str]:
        """The first stage without a marker, or None."""
        return next((s for s in STAGES if not self.marker(s).is_file()), None)

    def reset_from(self, stage: str) -> None:
        """Remove the markers and outputs of ``stage`` and every later stage."""
        for s in STAGES[STAGES.index(stage):]:
            self.marker(s).unlink(missing_ok=True)
            for rel in STAGE_OUTPUTS[s]:
                path = self.dir / rel
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()

    def config(self, path: str, stage: str, work: str) -> Config:
        """A stage's config: data root, launcher, work dir, its own run name."""
        cfg = Config.fromfile(path)
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
        result = evaluate_cam_dir(*args, **kwargs) if kind == 'cam' else evaluate_pred_dir(*args, **kwargs)
        report = build_report(result)
        write_report(report, out_dir)
        return report

    # ------------------------------------------------------------------ stages
    def stage1_train(self) -> dict:
        cfg = self.config(self.stage1_config, 'stage1_train', 'stage1')
        if self.stage1_epochs:
            shorten_schedule(cfg, self.stage1_epochs)
        return dict(checkpoint=self.train('stage1_train', cfg)['checkpoint'])

    def cams(self) -> dict:
        cfg = self.config(self.stage1_config, 'cams', 'stage1')
        # Stage 2 needs a CAM for every image it trains and walks on (VOC: train_aug); a
        # stage-1 config may list fewer (the demo's: train, for seed scores only).
        split = Config.fromfile(self.psa_config).train_dataloader.dataset.get('split')
        if split:
            cfg.cam_dataloader.dataset.split = split
        out = self.dir / 'cams'
        cam_generation_cfg(cfg, str(out))
        cfg.load_from = self.done('stage1_train')['checkpoint']
        self.test('cams', cfg)
        return dict(cam_dir=str(out), num_files=len(list(out.glob('*.npz'))))

    def seed_eval(self) -> dict:
        report = _on_rank0(lambda: self.score('seed_eval', 'cam', str(self.dir / 'cams'), str(self.dir / 'seed_eval')))
        return dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'], best_threshold=report['best_threshold'])

    def affinity_train(self) -> dict:
        cfg = self.config(self.psa_config, 'affinity_train', 'stage2')
        if not set_cam_dir(cfg, str(self.dir / 'cams'), cache_dir=str(self.dir / 'cams_crf')):
            raise ValueError(f'{self.psa_config}: no CAM-reading transform in its pipelines to point at the CAMs')
        if self.psa_epochs:
            shorten_schedule(cfg, self.psa_epochs)
        return dict(checkpoint=self.train('affinity_train', cfg)['checkpoint'])

    def pseudo_masks(self) -> dict:
        cfg = self.config(self.psa_config, 'pseudo_masks', 'stage2_infer')
        note = {}
        # A constant background score in the random walk is the seed threshold of the CAMs
        # at hand ("use yours" in the MCTformer-style config): take the sweep's best.
        if cfg.model.get('test_cfg', {}).get('bg_threshold') is not None:
            note = dict(bg_threshold=self.done('seed_eval')['best_threshold'])
            cfg.model.test_cfg.bg_threshold = note['bg_threshold']
        out = self.dir / 'pseudo_masks'
        self.pseudo_masks_run(cfg, self.done('affinity_train')['checkpoint'], str(self.dir / 'cams'), str(out),
                              cfg.work_dir)
        return dict(mask_dir=str(out), num_files=len(list(out.glob('*.png'))), **note)

    def mask_eval(self) -> dict:
        report = _on_rank0(
            lambda: self.score('mask_eval', 'mask', str(self.dir / 'pseudo_masks'), str(self.dir / 'mask_eval')))
        return dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'])

    def seg_train(self) -> dict:
        cfg = self.config(self.seg_config, 'seg_train', 'stage3')
        cfg.train_dataloader.dataset.pseudo_mask_dir = str(self.dir / 'pseudo_masks')
        if self.seg_iters:
            shorten_schedule(cfg, self.seg_iters)
        result = self.train('seg_train', cfg)
        return dict(checkpoint=result['checkpoint'], val_mIoU=result['val'].get('mIoU'))

    def seg_test(self) -> dict:
        cfg = apply_tta(self.config(self.seg_config, 'seg_test', 'stage3_test'))
        cfg.load_from = self.done('seg_train')['checkpoint']
        metrics = self.test('seg_test', cfg)
        if 'mIoU' not in metrics:
            raise RuntimeError(f'{self.seg_config}: the test with its tta_model reported no mIoU ({metrics})')
        return {k: float(metrics[k]) for k in ('mIoU', 'aAcc', 'mAcc')}  # numpy scalars from mmseg

    # ------------------------------------------------------------------ driver
    def run(self) -> Dict[str, dict]:
        """Run the unfinished stages; returns every stage's results."""
        setup_env()
        start = self.first_unfinished()
        if start is not None:
            later = STAGES[STAGES.index(start) + 1:]
            stale = [s for s in later if self.marker(s).is_file()]
            if stale and get_rank() == 0:  # made from the output being redone
                print(f'[pipeline] {self.name}: {start} is unfinished; removing the later stages {stale}')
                self.reset_from(later[0])
            barrier()
            for stage in STAGES[STAGES.index(start):]:
                print(f'[pipeline] {self.name}: {stage} ...', flush=True)
                t0 = time.time()
                result = getattr(self, stage)()
                result['seconds'] = round(time.time() - t0, 1)
                print(f'[pipeline] {self.name}: {stage} done in {result["seconds"]:.0f} s: {result}', flush=True)
                if get_rank() == 0:
                    write_json(self.marker(stage), result)
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


def run_pipeline(config: str,
                 work_dir: Optional[str] = None,
                 data_root: Optional[str] = None,
                 doei: bool = False,
                 doei_config: Optional[str] = None,
                 psa_config: Optional[str] = None,
                 seg_config: Optional[str] = None,
                 tiny: bool = False,
                 synthetic_images: int = 200,
                 stage1_epochs: Optional[int] = None,
                 psa_epochs: Optional[int] = None,
                 seg_iters: Optional[int] = None,
                 launcher: str = 'none',
                 from_stage: Optional[str] = None,
                 command: str = '',
                 pipeline_cls: type = WSSSPipeline) -> Dict[str, dict]:
    """Run every stage of the baseline (and the DOEI variant) into one work directory.

    Args:
        config: The stage-1 config, with ``cam_dataloader`` and ``cam_eval``.
        work_dir: One folder for everything (default ``work_dirs/pipeline/CONFIG``).
        data_root: Dataset folder of every stage (VOC2012 / COCO layout).
        doei: Also run ``config`` with DOEI on (``model.doei=dict()``).
        doei_config: The DOEI variant as a config of its own (implies ``doei``).
        psa_config, seg_config: Stage-2 and stage-3 configs (default by dataset).
        tiny: CPU scale: the tiny stage-2/3 configs and, without ``data_root``,
            a synthetic VOC-layout set of ``synthetic_images`` train images in
            ``WORK/data``.
        stage1_epochs, psa_epochs, seg_iters: Shorter schedules.
        launcher: mmengine's launcher (``'pytorch'`` under torchrun).
        from_stage: Redo this stage and all after it.
        command: The command line, for the summary.
        pipeline_cls: The class running one variant (tests pass a subclass).

    Returns:
        The summary row of each variant (seed, mask and val mIoU, time); the
        table also goes to ``WORK/summary.md`` and, with every stage's
        results, to ``WORK/summary.json``.
    """
    cfg = Config.fromfile(config)
    if 'cam_eval' not in cfg or 'cam_dataloader' not in cfg:
        raise ValueError(f'{config}: a stage-1 config needs cam_dataloader and cam_eval')
    if from_stage is not None and from_stage not in STAGES:
        raise ValueError(f'from_stage must be one of {STAGES}, got {from_stage!r}')
    work = Path(work_dir or osp.join('work_dirs', 'pipeline', Path(config).stem)).resolve()
    work.mkdir(parents=True, exist_ok=True)
    dataset = 'tiny' if tiny else ('coco' if cfg.cam_eval['num_classes'] == 81 else 'voc')
    psa_config = psa_config or str(REPO_ROOT / DEFAULT_CONFIGS[dataset][0])
    seg_config = seg_config or str(REPO_ROOT / DEFAULT_CONFIGS[dataset][1])
    synthetic = data_root is None and tiny
    if synthetic:
        data_root = _on_rank0(lambda: str(
            ensure_synthetic_voc(str(work), synthetic_images, img_size=64, num_val=max(1, synthetic_images // 4))))
    data_root = str(Path(data_root).resolve()) if data_root else None

    variants = {'baseline': str(Path(config).resolve())}
    if doei or doei_config:
        variants['doei'] = (str(Path(doei_config).resolve()) if doei_config else
                            doei_variant_config(config, work / 'doei_stage1_config.py'))
    pipes = {}
    for name, variant_config in variants.items():
        pipe = pipeline_cls(name, variant_config, work / name, data_root, psa_config, seg_config,
                            stage1_epochs=stage1_epochs, psa_epochs=psa_epochs, seg_iters=seg_iters,
                            launcher=launcher)
        if from_stage and get_rank() == 0:
            pipe.reset_from(from_stage)
        pipes[name] = pipe
    barrier()
    # Every stage still to run gets at least one batch, checked before the first one trains
    # (AffinityNet drops incomplete batches: too few images failed only after stage 1).
    hint = (f' (--synthetic-images {synthetic_images} writes {synthetic_images} train_aug images)'
            if synthetic else '')
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
