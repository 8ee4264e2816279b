"""Test a model, or generate its CAMs (a thin wrapper around mmengine's Runner).

    python tools/test.py CONFIG CHECKPOINT                    # the config's test loop
        [--tta] [--out metrics.json] [--show-dir DIR]
    python tools/test.py CONFIG CHECKPOINT --cam-out DIR      # CAM files for cam_dataloader
        [--cam-protocol ms5 | --scales 1.0 0.5 1.5] [--no-flip] [--cam-type fused] [--last-n 3]
        [--refine | --no-refine] [--overlay [--overlay-limit N]] [--eval-seeds] [--amp] [--overwrite]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

``--tta`` tests with the config's ``tta_model`` and ``tta_pipeline`` (mmseg's
convention; the DeepLab configs' are 5 scales + flip + dense CRF), ``--out``
writes the metrics as json, ``--show-dir`` writes each test image with its
prediction overlaid (mmseg's / mmpretrain's visualisation hook).

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
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

import torch.distributed as torch_dist  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dist import barrier, get_rank  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmdoei  # noqa: E402,F401  registers everything
from mmdoei.apis import cam_generation_cfg, evaluate_seeds  # noqa: E402
from mmdoei.evaluation import format_report, write_report  # noqa: E402
from mmdoei.models.segmentors import apply_tta  # noqa: E402
from mmdoei.utils import atomic_write, setup_env  # noqa: E402
from mmdoei.utils.config import check_amp_device, set_data_root  # noqa: E402
from mmdoei.utils.locks import folder_lock  # noqa: E402
from mmdoei.utils.weights import load_runner_weights  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a model or generate its CAMs')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--data-root', help='set every data_root in the config')
    parser.add_argument('--tta', action='store_true', help="test with the config's tta_model and tta_pipeline")
    parser.add_argument('--out', help='write the test metrics to this json file')
    parser.add_argument('--show-dir', help='write every test image with its prediction overlaid here')
    cam = parser.add_argument_group('CAM generation')
    cam.add_argument('--cam-out', help='write {img_id}.npz CAMs of cam_dataloader here')
    cam.add_argument('--cam-protocol', help='a named CAM protocol instead of the config\'s '
                     '(mctformer, tscam, transcam, ms5: mmdoei.cam.CAM_PROTOCOLS)')
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
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
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
        apply_tta(cfg)
    if args.show_dir:
        show_predictions(cfg, args.show_dir)
    if args.cam_out:
        cam_generation_cfg(cfg, args.cam_out, scales=args.scales,
                           flip=False if args.no_flip else None, overlay=args.overlay,
                           protocol=args.cam_protocol, amp=args.amp, overwrite=args.overwrite,
                           overlay_limit=args.overlay_limit,
                           cam_cfg=dict(type=args.cam_type, last_n=args.last_n, refine=args.refine))
    return cfg


def show_predictions(cfg: Config, show_dir: str) -> None:
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


def main() -> None:
    args = parse_args()
    if args.eval_seeds and not args.cam_out:
        raise SystemExit('--eval-seeds needs --cam-out')
    if args.cam_out and (args.tta or args.show_dir):
        raise SystemExit('--tta and --show-dir test the config\'s test loop; CAM overlays are --overlay')
    if args.amp and not args.cam_out:
        raise SystemExit('--amp is for CAM generation (--cam-out)')
    if args.overwrite and not args.cam_out:
        raise SystemExit('--overwrite is for CAM generation (--cam-out)')
    setup_env()
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    # The Runner would load load_from with strict=False (another model's checkpoint only warns,
    # and the model is scored with random weights): load it here, once, if it fits.
    load_runner_weights(runner, cfg.load_from, partial=args.partial_load)
    metrics = runner.test()
    if args.out and get_rank() == 0:
        with atomic_write(args.out, 'w') as f:
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
