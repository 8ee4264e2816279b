"""Run the whole WSSS pipeline from a stage-1 config into one work directory.

    python tools/run_pipeline.py STAGE1_CONFIG --work-dir DIR [--data-root ROOT] [--doei] [--gpus N]
    # CPU scale, on a synthetic VOC-layout set written into DIR/data, baseline and DOEI:
    python tools/run_pipeline.py configs/demo/mctformer-v2_vit-4l128_synthetic-64.py --tiny --doei \
        --work-dir work_dirs/pipeline_tiny

For each variant (the config; with ``--doei`` also the same config with DOEI on,
or ``--doei-config``) the stages run in order, each a subprocess of the
project's tools, so every stage is what a user would type:

    stage1_train    tools/train.py STAGE1_CONFIG                       -> stage1/
    cams            tools/test.py ... --cam-out (cam_dataloader)      -> cams/
    seed_eval       tools/analysis_tools/eval_seeds.py --cam-dir       -> seed_eval/   (seed mIoU)
    affinity_train  tools/train.py PSA_CONFIG (CAMs of cams/)          -> stage2/
    pseudo_masks    tools/psa_infer.py (random walk)                   -> pseudo_masks/
    mask_eval       tools/analysis_tools/eval_seeds.py --pred-dir      -> mask_eval/   (mask mIoU)
    seg_train       tools/train.py SEG_CONFIG (pseudo_mask_dir)        -> stage3/      (val mIoU, 1 scale)
    seg_test        tools/test.py SEG_CONFIG's tta_model/tta_pipeline  -> stage3_test/ (val mIoU, ms+flip+CRF)

A stage that finishes writes ``DIR/VARIANT/.done/STAGE.json`` (atomically) with
its outputs and numbers. A rerun starts at each variant's first stage without
one; the stages that resume within themselves (training, CAM files, pseudo
masks) continue where they stopped. Outputs of stages after that one are
removed first, since they were made from what is being redone. The table of
seed, mask and val mIoU is printed and written to ``DIR/summary.md`` and
``DIR/summary.json``. Each stage's output is in ``DIR/VARIANT/logs/STAGE.log``.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmengine.config import Config  # noqa: E402

from mmdoei.segmentation.results import latest_test_metrics, latest_val_metrics  # noqa: E402
from mmdoei.utils.io import atomic_write  # noqa: E402

STAGES = ('stage1_train', 'cams', 'seed_eval', 'affinity_train', 'pseudo_masks', 'mask_eval', 'seg_train',
          'seg_test')
# What each stage writes under the variant's folder (removed when an earlier stage reruns).
STAGE_OUTPUTS = {
    'stage1_train': ['stage1'],
    'cams': ['cams'],
    'seed_eval': ['seed_eval'],
    'affinity_train': ['stage2', 'cams_crf'],
    'pseudo_masks': ['pseudo_masks', 'stage2_infer'],
    'mask_eval': ['mask_eval'],
    'seg_train': ['stage3'],
    'seg_test': ['stage3_test', 'seg_test_config.py'],
}
# Stage-2 and stage-3 configs by dataset; 'tiny' is the CPU scale on synthetic 64 x 64 data.
DEFAULT_CONFIGS = {
    'voc': ('configs/psa/affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py',
            'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py'),
    'coco': ('configs/psa/affnet_resnet38d_1xb8-8e_coco14-448x448.py',
             'configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-616k_coco14-321x321.py'),
    'tiny': ('configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py',
             'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'),
}
CAM_TRANSFORMS = ('LoadAffinityLabelFromCAM', )
Runner = Callable[[List[str], Path], None]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='stage-1 (classifier) config, with cam_dataloader and cam_eval')
    parser.add_argument('--work-dir', help='one folder for everything (default work_dirs/pipeline/CONFIG)')
    parser.add_argument('--data-root', help='dataset folder for every stage (VOC2012 / COCO layout)')
    parser.add_argument('--doei', action='store_true', help='also run the config with DOEI on (model.doei=dict())')
    parser.add_argument('--doei-config', help='the DOEI variant as a config of its own (implies --doei)')
    parser.add_argument('--psa-config', help='stage-2 config (default by dataset)')
    parser.add_argument('--seg-config', help='stage-3 training config with tta_model/tta_pipeline (default by dataset)')
    size = parser.add_argument_group('scale')
    size.add_argument('--tiny', action='store_true',
                      help='CPU scale: tiny stage-2/3 configs; without --data-root, a synthetic VOC set in WORK/data')
    size.add_argument('--synthetic-images', type=int, default=200, help='train_aug size of that set (val: 1/4)')
    size.add_argument('--stage1-epochs', type=int, help='override the stage-1 epochs')
    size.add_argument('--psa-epochs', type=int, help='override the AffinityNet epochs')
    size.add_argument('--seg-iters', type=int, help='override the DeepLab iterations')
    parser.add_argument('--gpus', type=int, default=1, help='processes per stage (torchrun launchers when > 1)')
    parser.add_argument('--from-stage', choices=STAGES, help='redo this stage and all after it')
    parser.add_argument('--verbose', action='store_true', help='show the tools\' output, not only the logs')
    return parser.parse_args(argv)


def write_json(path: Path, data: dict) -> None:
    with atomic_write(path, 'w') as f:
        json.dump(data, f, indent=1)


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def run_command(cmd: List[str], log: Path, verbose: bool = False) -> None:
    """Run a tool; its output goes to ``log`` (and the console with ``verbose``).

    Raises:
        RuntimeError: naming the command and log, with the log's last lines.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    with open(log, 'a') as f:
        f.write(f'\n$ {" ".join(cmd)}\n')
        f.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            f.write(line)
            if verbose:
                sys.stdout.write(line)
        code = proc.wait()
    if code != 0:
        tail = ''.join(open(log).readlines()[-25:])
        raise RuntimeError(f'command failed (exit {code}): {" ".join(cmd)}\nlog: {log}\n{tail}')


def epoch_overrides(cfg: Config, epochs: int) -> List[str]:
    """``--cfg-options`` that shorten an epoch-based config to ``epochs``, its
    schedulers' ends, validation and checkpoint intervals included."""
    old = cfg.train_cfg.get('max_epochs')
    opts = [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
            f'default_hooks.checkpoint.interval={epochs}']
    for i, sched in enumerate(cfg.get('param_scheduler') or []):
        if sched.get('end') == old:
            opts.append(f'param_scheduler.{i}.end={epochs}')
    return opts


def iter_overrides(cfg: Config, iters: int) -> List[str]:
    """``--cfg-options`` that shorten an iteration-based config to ``iters``."""
    old = cfg.train_cfg.get('max_iters')
    opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}']
    for i, sched in enumerate(cfg.get('param_scheduler') or []):
        if sched.get('end') == old:
            opts.append(f'param_scheduler.{i}.end={iters}')
    return opts


def last_checkpoint(work_dir: Path) -> str:
    """The checkpoint mmengine's CheckpointHook names in ``last_checkpoint``."""
    marker = work_dir / 'last_checkpoint'
    if not marker.is_file():
        raise FileNotFoundError(f'{work_dir}: training left no last_checkpoint')
    return marker.read_text().strip()


class Pipeline:
    """The stages of one variant (baseline or DOEI) in ``work_dir``.

    Args:
        name: Variant name (the folder under the work directory).
        stage1_config: Its classifier config.
        work_dir: The variant's folder.
        data_root: Dataset folder given to every tool (None: the configs' own).
        psa_config, seg_config: Stage-2 and stage-3 configs.
        args: The command line (scale overrides, gpus, verbose).
        runner: Runs a command with its log file (tests pass a fake).
    """

    def __init__(self, name: str, stage1_config: str, work_dir: Path, data_root: Optional[str], psa_config: str,
                 seg_config: str, args: argparse.Namespace, runner: Optional[Runner] = None) -> None:
        self.name = name
        self.stage1_config = stage1_config
        self.dir = work_dir
        self.data_root = data_root
        self.psa_config = psa_config
        self.seg_config = seg_config
        self.args = args
        self.runner = runner or (lambda cmd, log: run_command(cmd, log, args.verbose))
        self.stage1_cfg = Config.fromfile(stage1_config)

    # ------------------------------------------------------------------ bookkeeping
    def marker(self, stage: str) -> Path:
        return self.dir / '.done' / f'{stage}.json'

    def done(self, stage: str) -> Optional[dict]:
        path = self.marker(stage)
        return read_json(path) if path.is_file() else None

    def first_unfinished(self) -> Optional[str]:
        return next((s for s in STAGES if not self.marker(s).is_file()), None)

    def reset_from(self, stage: str) -> None:
        """Remove the markers and outputs of ``stage`` and every later stage
        (``--from-stage``, or later stages made from a stage being redone)."""
        for s in STAGES[STAGES.index(stage):]:
            self.marker(s).unlink(missing_ok=True)
            self._remove_outputs(s)

    def _remove_outputs(self, stage: str) -> None:
        for rel in STAGE_OUTPUTS[stage]:
            path = self.dir / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def _tool(self, script: str, *args: str, dist: bool = False) -> List[str]:
        """A tool's command; training/testing tools go through torchrun with --gpus > 1."""
        if dist and self.args.gpus > 1:
            launcher = {'train.py': 'dist_train.sh', 'test.py': 'dist_test.sh'}.get(script)
            if launcher is not None:
                # dist_*.sh take the process count after the config (train) / checkpoint (test).
                split = 1 if script == 'train.py' else 2
                return ['bash', f'tools/{launcher}', *args[:split], str(self.args.gpus), *args[split:]]
            return [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={self.args.gpus}',
                    f'tools/{script}', *args, '--launcher', 'pytorch']
        return [sys.executable, f'tools/{script}', *args]

    def _data(self) -> List[str]:
        return ['--data-root', self.data_root] if self.data_root else []

    def _eval_args(self) -> List[str]:
        ev = self.stage1_cfg.cam_eval
        root = self.data_root or ev['data_root']
        return ['--data-root', root, '--split', ev['split'], '--gt-dir', ev['gt_dir'], '--num-classes',
                str(ev['num_classes']), '--no-progress']

    # ------------------------------------------------------------------ stages
    def stage1_train(self) -> dict:
        work = self.dir / 'stage1'
        opts = epoch_overrides(self.stage1_cfg, self.args.stage1_epochs) if self.args.stage1_epochs else []
        self._run('stage1_train', self._tool('train.py', self.stage1_config, '--work-dir', str(work), '--resume',
                                             *self._data(), *(['--cfg-options', *opts] if opts else []), dist=True))
        return dict(checkpoint=last_checkpoint(work))

    def cams(self) -> dict:
        ckpt = self.done('stage1_train')['checkpoint']
        out = self.dir / 'cams'
        # Stage 2 needs a CAM for every image it trains and walks on (VOC: train_aug); a
        # stage-1 config may list fewer (the demo's: train, for seed scores only).
        opts = []
        split = Config.fromfile(self.psa_config).train_dataloader.dataset.get('split')
        if split and self.stage1_cfg.cam_dataloader.dataset.get('split') != split:
            opts = ['--cfg-options', f'cam_dataloader.dataset.split={split}']
        self._run('cams', self._tool('test.py', self.stage1_config, ckpt, '--work-dir', str(self.dir / 'stage1'),
                                     '--cam-out', str(out), *self._data(), *opts, dist=True))
        return dict(cam_dir=str(out), num_files=len(list(out.glob('*.npz'))))

    def seed_eval(self) -> dict:
        out = self.dir / 'seed_eval'
        self._run('seed_eval', self._tool('analysis_tools/eval_seeds.py', '--cam-dir', str(self.dir / 'cams'),
                                          *self._eval_args(), '--out-dir', str(out)))
        report = read_json(out / 'seed_eval.json')
        return dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'], best_threshold=report['best_threshold'])

    def affinity_train(self) -> dict:
        cfg = Config.fromfile(self.psa_config)
        cams = self.dir / 'cams'
        opts = []
        for i, t in enumerate(cfg.train_dataloader.dataset.pipeline):
            if t.get('type', '').split('.')[-1] in CAM_TRANSFORMS:
                opts += [f'train_dataloader.dataset.pipeline.{i}.cam_dir={cams}']
                if 'cache_dir' in t:
                    opts += [f'train_dataloader.dataset.pipeline.{i}.cache_dir={self.dir / "cams_crf"}']
        if not opts:
            raise ValueError(f'{self.psa_config}: no {CAM_TRANSFORMS} in the training pipeline to point at the CAMs')
        if self.args.psa_epochs:
            opts += epoch_overrides(cfg, self.args.psa_epochs)
        work = self.dir / 'stage2'
        self._run('affinity_train', self._tool('train.py', self.psa_config, '--work-dir', str(work), '--resume',
                                               *self._data(), '--cfg-options', *opts, dist=True))
        return dict(checkpoint=last_checkpoint(work))

    def pseudo_masks(self) -> dict:
        cfg = Config.fromfile(self.psa_config)
        opts, note = [], {}
        # A constant background score in the random walk is the seed threshold of the CAMs
        # at hand ("use yours" in the MCTformer-style config): take the sweep's best.
        if cfg.model.get('test_cfg', {}).get('bg_threshold') is not None:
            thr = self.done('seed_eval')['best_threshold']
            opts = ['--cfg-options', f'model.test_cfg.bg_threshold={thr}']
            note = dict(bg_threshold=thr)
        out = self.dir / 'pseudo_masks'
        self._run('pseudo_masks', self._tool('psa_infer.py', self.psa_config, self.done('affinity_train')['checkpoint'],
                                             '--cam-dir', str(self.dir / 'cams'), '--out-dir', str(out), '--no-eval',
                                             '--work-dir', str(self.dir / 'stage2_infer'), *self._data(), *opts,
                                             dist=True))
        return dict(mask_dir=str(out), num_files=len(list(out.glob('*.png'))), **note)

    def mask_eval(self) -> dict:
        out = self.dir / 'mask_eval'
        self._run('mask_eval', self._tool('analysis_tools/eval_seeds.py', '--pred-dir', str(self.dir / 'pseudo_masks'),
                                          *self._eval_args(), '--out-dir', str(out)))
        report = read_json(out / 'seed_eval.json')
        return dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'])

    def seg_train(self) -> dict:
        work = self.dir / 'stage3'
        opts = [f'train_dataloader.dataset.pseudo_mask_dir={self.dir / "pseudo_masks"}']
        if self.args.seg_iters:
            opts += iter_overrides(Config.fromfile(self.seg_config), self.args.seg_iters)
        self._run('seg_train', self._tool('train.py', self.seg_config, '--work-dir', str(work), '--resume',
                                          *self._data(), '--cfg-options', *opts, dist=True))
        val = latest_val_metrics(str(work))
        return dict(checkpoint=last_checkpoint(work), val_mIoU=None if val is None else val['mIoU'])

    def seg_test(self) -> dict:
        from mmdoei.segmentation.tta import tta_config_text
        test_cfg = self.dir / 'seg_test_config.py'
        with atomic_write(test_cfg, 'w') as f:
            f.write(tta_config_text(str(Path(self.seg_config).resolve())))
        work = self.dir / 'stage3_test'
        self._run('seg_test', self._tool('test.py', str(test_cfg), self.done('seg_train')['checkpoint'],
                                         '--work-dir', str(work), *self._data(), dist=True))
        metrics = latest_test_metrics(str(work))
        if metrics is None:
            raise RuntimeError(f'{work}: the test logged no mIoU')
        return dict(mIoU=metrics['mIoU'], aAcc=metrics['aAcc'], mAcc=metrics['mAcc'])

    # ------------------------------------------------------------------ driver
    def _run(self, stage: str, cmd: List[str]) -> None:
        self.runner(cmd, self.dir / 'logs' / f'{stage}.log')

    def run(self) -> dict:
        """Run the unfinished stages; returns every stage's marker content."""
        start = self.first_unfinished()
        if start is not None:
            later = STAGES[STAGES.index(start) + 1:]
            stale = [s for s in later if self.marker(s).is_file()]
            if stale:  # made from the output being redone
                print(f'[pipeline] {self.name}: {start} is unfinished; removing the later stages {stale}')
                self.reset_from(later[0])
            for stage in STAGES[STAGES.index(start):]:
                print(f'[pipeline] {self.name}: {stage} ...', flush=True)
                t0 = time.time()
                result = getattr(self, stage)()
                print(f'[pipeline] {self.name}: {stage} done in {time.time() - t0:.0f} s: {result}', flush=True)
                result['seconds'] = round(time.time() - t0, 1)
                write_json(self.marker(stage), result)
        return {s: self.done(s) for s in STAGES}


def summary(results: Dict[str, dict]) -> dict:
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
    """A config file that is ``config`` with DOEI on (the DOEI-SPEC defaults)."""
    if Config.fromfile(config).model.get('doei') is not None:
        raise ValueError(f'{config} already has DOEI on; give the baseline config (or --doei-config)')
    with atomic_write(out, 'w') as f:
        f.write(f'# {osp.basename(config)} with DOEI (written by tools/run_pipeline.py)\n'
                f'_base_ = [{str(Path(config).resolve())!r}]\nmodel = dict(doei=dict())\n')
    return str(out)


def make_tiny_data(work_dir: Path, num_train: int) -> str:
    """The synthetic VOC-layout set of ``--tiny``, written once (a marker says complete)."""
    from mmdoei.datasets.synthetic import make_synthetic_voc
    marker = work_dir / 'data' / f'.complete-{num_train}'
    root = work_dir / 'data' / 'VOC2012'
    if not marker.is_file():
        print(f'[pipeline] writing a synthetic VOC-layout set ({num_train} train_aug images) to {root}')
        make_synthetic_voc(work_dir / 'data', num_train=num_train, num_val=max(1, num_train // 4), img_size=(64, 64),
                           seed=0)
        with atomic_write(marker, 'w') as f:
            f.write('ok\n')
    return str(root)


def main(argv: Optional[Sequence[str]] = None, runner: Optional[Runner] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if 'cam_eval' not in cfg or 'cam_dataloader' not in cfg:
        raise SystemExit(f'{args.config}: a stage-1 config needs cam_dataloader and cam_eval')
    work = Path(args.work_dir or osp.join('work_dirs', 'pipeline', Path(args.config).stem)).resolve()
    work.mkdir(parents=True, exist_ok=True)
    dataset = 'tiny' if args.tiny else ('coco' if cfg.cam_eval['num_classes'] == 81 else 'voc')
    psa_config = args.psa_config or str(ROOT / DEFAULT_CONFIGS[dataset][0])
    seg_config = args.seg_config or str(ROOT / DEFAULT_CONFIGS[dataset][1])
    data_root = args.data_root or (make_tiny_data(work, args.synthetic_images) if args.tiny else None)
    data_root = str(Path(data_root).resolve()) if data_root else None

    variants = {'baseline': str(Path(args.config).resolve())}
    if args.doei or args.doei_config:
        variants['doei'] = (str(Path(args.doei_config).resolve()) if args.doei_config else
                            doei_variant_config(args.config, work / 'doei_stage1_config.py'))
    results = {}
    for name, config in variants.items():
        pipe = Pipeline(name, config, work / name, data_root, psa_config, seg_config, args, runner)
        if args.from_stage:
            pipe.reset_from(args.from_stage)
        results[name] = pipe.run()

    rows = summary(results)
    table = summary_table(rows)
    cmd = 'python tools/run_pipeline.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    data = data_root or "the configs' data_root"
    text = (f'# WSSS pipeline\n\n`{cmd}`\n\nstage 1: `{args.config}`; stage 2: `{osp.relpath(psa_config, ROOT)}`; '
            f'stage 3: `{osp.relpath(seg_config, ROOT)}`; data: `{data}`\n\n'
            f'{table}\n\nseed: CAM seeds at the best background threshold; mask: random-walk pseudo masks; '
            'both on the stage-1 config\'s cam_eval split. val: DeepLab on the val split, single scale '
            '(end of training) and 5 scales + flip + dense CRF.\n')
    with atomic_write(work / 'summary.md', 'w') as f:
        f.write(text)
    write_json(work / 'summary.json', dict(command=cmd, data_root=data_root, psa_config=psa_config,
                                           seg_config=seg_config, variants=rows, stages=results))
    print('\n' + table + f'\n\nwritten: {work / "summary.md"}, {work / "summary.json"}')
    return rows


if __name__ == '__main__':
    main()
