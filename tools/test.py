"""Test a model, or generate its CAMs (a thin wrapper around mmengine's Runner).

    python tools/test.py CONFIG CHECKPOINT                    # the config's test loop
        [--tta] [--out DIR | --out FILE.json [--out-item {pred,metrics}]] [--metrics-out FILE.json]
        [--show-dir DIR]
    python tools/test.py CONFIG CHECKPOINT --cam-out DIR      # CAM files for cam_dataloader
        [--cam-protocol ms5 | --scales 1.0 0.5 1.5] [--no-flip] [--cam-type fused] [--last-n 3]
        [--refine | --no-refine] [--overlay [--overlay-limit N]] [--eval-seeds] [--amp] [--overwrite]
        [--cam-suffix _cam.npz]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

``--tta`` tests with the config's ``tta_model`` and ``tta_pipeline`` (mmseg's
convention; the DeepLab configs' are 5 scales + flip + dense CRF).
``--out`` means what it means upstream: for a segmentation (mmseg) config a
folder where each test image's prediction is written as a label PNG (mmseg's
``tools/test.py``: the IoU metric's ``output_dir``); for the other (stage-1,
mmpretrain) configs a file of the predictions, or with ``--out-item metrics``
of the metrics (mmpretrain's ``tools/test.py``), always JSON, never pickle.
``--metrics-out`` writes the metrics as JSON for any config. ``--show-dir``
writes each test image with its prediction overlaid (mmseg's / mmpretrain's
visualisation hook). Every output path is checked before anything is built: a
folder where a file is needed (or the reverse), a place that cannot be
written, or two output flags naming the same path (or one inside a file,
or inside ``--cam-out``, another flag names) stop the tool at once, naming
the flags and the paths.

CAMs follow the config's ``cam_gen`` protocol (each baseline's authors':
docs/protocol.md); ``--cam-protocol ms5`` (or ``--scales 0.5 0.75 1.0 1.25 1.5``)
gives the DOEI paper's 5 scales + flip. CAM generation resumes: images whose
file exists are skipped, so rerunning an interrupted job finishes it. That
is only done for the same inputs: DIR/.mmdoei-record.json records what made
the folder (the checkpoint's sha256, the model config with DOEI, the CAM
protocol, the image list, the mmdoei version), and a run with other inputs
(another checkpoint, --scales, --no-flip, ...) stops with the differing
fields, unless ``--overwrite``, which deletes DIR's CAM files, overlays/ and
seed_eval/ first. One run writes into DIR at a time: a second one stops at
once, naming the first. ``--overlay`` writes overlays of the first 50 (or
``--overlay-limit``) images of the split, each before its CAM file, so a
resumed run completes that same set. With --eval-seeds,
rank 0 then scores the seeds (mIoU/FP/FN over a background-threshold sweep)
on the config's ``cam_eval`` split and writes DIR/seed_eval/.
"""
import argparse
import gc
import os
import os.path as osp
import sys
from typing import Any, List, Optional, Sequence

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

# torch, mmengine and mmdoei are imported in main(), after the arguments are parsed and the
# output paths checked: --help and a wrong flag answer at once, not after seconds of imports.


class DictAction(argparse.Action):
    """mmengine's ``DictAction`` (``--cfg-options a.b=1``), imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction as MMEngineDictAction
        MMEngineDictAction(self.option_strings, self.dest)(parser, namespace, values, option_string)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line, parsed without importing torch, mmengine or mmdoei."""
    parser = argparse.ArgumentParser(description='Test a model or generate its CAMs')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--data-root', help='set every data_root in the config')
    parser.add_argument('--tta', action='store_true', help="test with the config's tta_model and tta_pipeline")
    parser.add_argument('--out', help='segmentation (mmseg) configs: a folder for the prediction PNGs, as mmseg; '
                        'other (stage-1) configs: a .json file of the predictions (or of the metrics, with '
                        '--out-item metrics), as mmpretrain but JSON, never pickle')
    parser.add_argument('--out-item', choices=['pred', 'metrics'],
                        help='stage-1 configs: what --out holds (default: pred), as mmpretrain')
    parser.add_argument('--metrics-out', metavar='FILE.json', help='write the test metrics to this json file')
    parser.add_argument('--show-dir', help='write every test image with its prediction overlaid here')
    cam = parser.add_argument_group('CAM generation')
    cam.add_argument('--cam-out', help='write {img_id}{cam_suffix} CAMs of cam_dataloader here')
    cam.add_argument('--cam-suffix', help="the CAM files' suffix, ending in .npz (default: the config's cam_suffix, "
                     'else .npz); the readers (the CAM transforms\' cam_suffix) must use the same')
    cam.add_argument('--cam-protocol', help='a named CAM protocol instead of the config\'s '
                     '(mctformer, tscam, transcam, ms5, or one a classifier class declares: '
                     'mmdoei.cam.CAM_PROTOCOLS)')
    cam.add_argument('--scales', type=float, nargs='+', help='image scales (default: the cam_gen protocol\'s)')
    cam.add_argument('--no-flip', action='store_true', help='do not add flipped images')
    cam.add_argument('--cam-type', help='CAM type, e.g. fused / patchcam / mct (MCTformer-V2)')
    cam.add_argument('--last-n', type=int, help='sum attention of the last n blocks')
    cam.add_argument('--refine', dest='refine', action='store_true', default=None,
                     help='patch-affinity refinement on')
    cam.add_argument('--no-refine', dest='refine', action='store_false', help='refinement off')
    cam.add_argument('--overlay', action='store_true', help='also write overlay PNGs (first 50 images)')
    cam.add_argument('--overlay-limit', type=int, default=50, metavar='N',
                     help='with --overlay: overlays of the first N images of the split (default 50)')
    cam.add_argument('--eval-seeds', action='store_true', help='score the seeds afterwards (cam_eval)')
    cam.add_argument('--amp', action='store_true', help='CAMs under CUDA autocast, as the authors (GPU only)')
    cam.add_argument('--overwrite', action='store_true',
                     help='if --cam-out holds CAMs made with other inputs, delete them instead of stopping')
    parser.add_argument('--partial-load', action='store_true',
                        help='accept a checkpoint that does not fit the model (only its matching tensors load)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_output_path(path: str, flag: str, kind: str) -> None:
    """Stop (``SystemExit``) unless ``path`` can be written as a ``kind`` (``'folder'`` or ``'file'``).

    Run before anything is built, so a wrong path fails in a second instead of
    after the whole test: the path must not be a file where a folder is needed
    (or the reverse), and it, or the nearest folder above it that exists (its
    missing parents are created when written), must be a writable folder.
    The message names the flag and the path.
    """
    full = osp.abspath(path)
    if osp.isdir(full):
        if kind == 'file':
            raise SystemExit(f'{flag} {path}: is a folder; {flag} needs a file path '
                             f'(e.g. {osp.join(path, "results.json")})')
        target = full
    elif osp.lexists(full):
        if kind == 'folder':
            raise SystemExit(f'{flag} {path}: is a file; {flag} needs a folder')
        target = osp.dirname(full)
    else:
        if kind == 'file' and path.endswith(('/', os.sep)):
            raise SystemExit(f'{flag} {path}: names a folder; {flag} needs a file path')
        target = osp.dirname(full)
        while not osp.lexists(target):
            target = osp.dirname(target)
        if not osp.isdir(target):
            raise SystemExit(f'{flag} {path}: cannot be created, {target} is a file, not a folder')
    if not os.access(target, os.W_OK | os.X_OK):
        raise SystemExit(f'{flag} {path}: cannot be written, {target} is not writable')


def check_json_path(path: str, flag: str) -> None:
    """Stop unless ``path`` names a writable ``.json`` file: results are never pickled (unpickling runs code)."""
    check_output_path(path, flag, 'file')
    if path.lower().endswith(('.pkl', '.pickle')):
        raise SystemExit(f'{flag} {path}: results are written as JSON only, never pickled (loading a pickle can run '
                         f'arbitrary code, so a shared results file must not be one); give a .json path, '
                         f'e.g. {osp.splitext(path)[0]}.json')
    if not path.lower().endswith('.json'):
        raise SystemExit(f'{flag} {path}: results are written as JSON; give a path ending in .json')


#: The output flags, and what each names: a file, a folder, or (``--out``) a file if it ends in .json.
OUTPUT_FLAGS = (('out', None), ('metrics_out', 'file'), ('cam_out', 'folder'), ('show_dir', 'folder'),
                ('work_dir', 'folder'))


def check_distinct_outputs(args: argparse.Namespace) -> None:
    """Stop unless the output flags name places that do not clash: no two the same path (one
    output would replace the other: ``--out same.json --metrics-out same.json`` lost the
    predictions after the whole test), none inside a file another one writes, and none inside
    ``--cam-out`` (the CAM run's own folder: locked, recorded, its outputs deleted by
    ``--overwrite``). Paths are compared resolved (``..``, symlinks). The message names both flags.
    """
    given = []
    for dest, kind in OUTPUT_FLAGS:
        path = getattr(args, dest, None)
        if path:
            if kind is None:
                kind = 'file' if path.lower().endswith('.json') else 'folder'
            given.append(('--' + dest.replace('_', '-'), path, kind, osp.realpath(path)))
    for i, (flag, path, kind, full) in enumerate(given):
        for other, opath, okind, ofull in given[i + 1:]:
            if full == ofull:
                raise SystemExit(f'{flag} {path} and {other} {opath} name the same path: one output would '
                                 'replace the other; give each its own path')
            for (a, apath, afull), (b, bpath, bkind, bfull) in (((flag, path, full), (other, opath, okind, ofull)),
                                                                ((other, opath, ofull), (flag, path, kind, full))):
                if osp.commonpath([afull, bfull]) == bfull and (bkind == 'file' or b == '--cam-out'):
                    why = ('is a file' if bkind == 'file' else
                           "is the CAM run's own folder (locked, recorded, cleaned by --overwrite)")
                    raise SystemExit(f'{a} {apath} is inside {b} {bpath}, which {why}; give {a} a path '
                                     f'outside it')


def check_flags(args: argparse.Namespace) -> None:
    """Flag combinations and the output paths that do not depend on the config, before any import."""
    if args.eval_seeds and not args.cam_out:
        raise SystemExit('--eval-seeds needs --cam-out')
    if args.cam_out and (args.tta or args.show_dir):
        raise SystemExit('--tta and --show-dir test the config\'s test loop; CAM overlays are --overlay')
    if args.cam_out and args.out:
        raise SystemExit('--out writes the predictions of the config\'s test loop; CAMs are written to --cam-out')
    if args.out_item and not args.out:
        raise SystemExit('--out-item needs --out (the file it writes), as in mmpretrain')
    if args.amp and not args.cam_out:
        raise SystemExit('--amp is for CAM generation (--cam-out)')
    if args.overwrite and not args.cam_out:
        raise SystemExit('--overwrite is for CAM generation (--cam-out)')
    if args.cam_suffix is not None and not args.cam_out:
        raise SystemExit('--cam-suffix is for CAM generation (--cam-out)')
    check_distinct_outputs(args)
    for flag in ('work_dir', 'show_dir', 'cam_out'):
        if getattr(args, flag):
            check_output_path(getattr(args, flag), '--' + flag.replace('_', '-'), 'folder')
    if args.metrics_out:
        check_json_path(args.metrics_out, '--metrics-out')


def is_segmentation(cfg: Any) -> bool:
    """Whether ``cfg`` is an mmseg config (stage 3), whose ``--out`` is a folder of prediction PNGs."""
    return cfg.get('default_scope') == 'mmseg'


def check_out(cfg: Any, args: argparse.Namespace) -> None:
    """``--out`` and ``--out-item`` for this config, checked before anything is built."""
    if not args.out:
        return
    if is_segmentation(cfg):
        if args.out_item:
            raise SystemExit(f'--out-item: {args.config} is a segmentation (mmseg) config, whose --out is a folder '
                             'of prediction PNGs; use --metrics-out FILE.json for the metrics')
        if not iou_metrics(cfg):
            raise SystemExit(f'--out {args.out}: the test_evaluator of {args.config} has no IoUMetric, which writes '
                             'the prediction PNGs; set its own output folder with --cfg-options instead')
        check_output_path(args.out, '--out', 'folder')
    else:
        check_json_path(args.out, '--out')


def iou_metrics(cfg: Any) -> List[Any]:
    """The ``IoUMetric`` entries of ``cfg.test_evaluator`` (a dict or a list of dicts)."""
    evaluator = cfg.get('test_evaluator')
    entries = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    from mmdoei.utils.config import entries_of_type  # after argument parsing: --help imports nothing heavy
    return entries_of_type(entries, 'IoUMetric')


def write_predictions(cfg: Any, out_dir: str) -> None:
    """mmseg's ``--out DIR``: the IoU metric also writes each prediction as ``DIR/{image name}.png``."""
    for metric in iou_metrics(cfg):
        metric['output_dir'] = out_dir
        metric['keep_results'] = True


def to_json(value: Any) -> Any:
    """``value`` (a data sample as a dict: tensors, arrays, numbers, strings) as plain JSON values."""
    import numpy as np
    import torch
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)  # nothing else occurs in mmpretrain's data samples; kept readable, never pickled


def prediction_writer(path: str) -> Any:
    """An evaluator metric that writes every test sample's prediction to ``path`` as JSON.

    mmpretrain's ``--out`` appends mmengine's ``DumpResults``, which pickles;
    this one writes the same per-sample records (``pred_score``, ``pred_label``,
    ``gt_label``, ``img_path``, ...) as a JSON list, atomically, on rank 0.
    """
    import json

    from mmengine.evaluator import BaseMetric

    from mmdoei.utils import atomic_write

    class JSONPredictions(BaseMetric):

        def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
            self.results.extend(to_json(sample) for sample in data_samples)

        def compute_metrics(self, results: list) -> dict:
            with atomic_write(path, 'w') as f:
                json.dump(results, f)
            return {}

    return JSONPredictions()


def merge_args(cfg: Any, args: argparse.Namespace) -> Any:
    """``cfg`` with the command line applied (checkpoint, work dir, data root, options, TTA, outputs)."""
    from mmdoei.apis.config_surgery import set_data_root
    from mmdoei.utils.config import check_amp_device

    if args.amp:
        try:
            check_amp_device()
        except ValueError as e:
            raise SystemExit(str(e)) from None
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.data_root is not None:
        set_data_root(cfg, args.data_root)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.tta:
        from mmdoei.apis.config_surgery import apply_tta
        apply_tta(cfg)
    if args.show_dir:
        show_predictions(cfg, args.show_dir)
    if args.cam_out:
        from mmdoei.apis import cam_generation_cfg
        cam_generation_cfg(cfg, args.cam_out, scales=args.scales,
                           flip=False if args.no_flip else None, overlay=args.overlay,
                           protocol=args.cam_protocol, amp=args.amp, overwrite=args.overwrite,
                           overlay_limit=args.overlay_limit, cam_suffix=args.cam_suffix,
                           cam_cfg=dict(type=args.cam_type, last_n=args.last_n, refine=args.refine))
    return cfg


def show_predictions(cfg: Any, show_dir: str) -> None:
    """Switch the config's visualisation hook on, writing into ``show_dir``.

    mmseg's ``SegVisualizationHook`` draws the prediction (and the ground
    truth, when loaded) over the image and saves through the visualizer;
    mmpretrain's ``VisualizationHook`` writes its own files, as their
    ``tools/test.py --show-dir`` do.
    """
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise SystemExit(f'{cfg.filename}: --show-dir needs a visualization hook in default_hooks')
    hook.interval = 1
    if hook.type.split('.')[-1] == 'SegVisualizationHook':
        hook.draw = True
        cfg.visualizer.save_dir = show_dir
        # The hook numbers images by runner.iter, which builds the train loop; its
        # pseudo masks need not exist for a test, so they are not checked.
        train = cfg.get('train_dataloader', {}).get('dataset', {})
        if 'pseudo_mask_dir' in train:
            train.check_masks = False
    else:
        hook.enable = True
        hook.out_dir = show_dir


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Test (or generate CAMs) as the command line says; see the module docstring."""
    args = parse_args(argv)
    check_flags(args)

    import json

    import torch.distributed as torch_dist
    from mmengine.config import Config
    from mmengine.dist import barrier, get_rank
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    import mmdoei  # noqa: F401  registers everything
    from mmdoei.apis import evaluate_seeds
    from mmdoei.evaluation import format_report, write_report
    from mmdoei.utils import atomic_write, setup_env
    from mmdoei.utils.locks import folder_lock
    from mmdoei.utils.weights import load_runner_weights

    setup_env()
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)  # builds nothing: what is checked next sees the --cfg-options too
    check_out(cfg, args)
    if args.work_dir is None:  # the config's or the default one: checked too, before the Runner makes it
        check_output_path(cfg.work_dir, '--work-dir (here the config\'s work_dir)', 'folder')
    if args.out and is_segmentation(cfg):
        write_predictions(cfg, args.out)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    # The Runner would load load_from with strict=False (another model's checkpoint only warns,
    # and the model is scored with random weights): load it here, once, if it fits.
    load_runner_weights(runner, cfg.load_from, partial=args.partial_load)
    if args.out and not is_segmentation(cfg) and args.out_item in (None, 'pred'):
        runner.test_evaluator.metrics.append(prediction_writer(args.out))
    metrics = runner.test()
    if get_rank() == 0:
        for path in (args.metrics_out, args.out if args.out_item == 'metrics' else None):
            if path:
                with atomic_write(path, 'w') as f:
                    json.dump(dict(metrics or {}), f, indent=1, default=float)  # numpy scalars as floats
    if args.eval_seeds:
        barrier()
        if get_rank() == 0:
            # the folder's lock again: no other run may replace the CAMs while they are scored
            with folder_lock(args.cam_out, 'CAM folder'):
                report = evaluate_seeds(cfg, args.cam_out)
                print('\n' + format_report(report))
                write_report(report, osp.join(args.cam_out, 'seed_eval'))
    # The DDP wrapper must be gone before the process group is (see tools/train.py).
    del runner
    gc.collect()
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
