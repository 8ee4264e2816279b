"""Pseudo masks by AffinityNet's random walk (stage 2 of the pipeline).

    python tools/psa_infer.py CONFIG CHECKPOINT --cam-dir CAMS --out-dir MASKS
        [--cam-suffix SUFFIX] [--data-root DIR] [--no-eval] [--work-dir DIR] [--overwrite] [--partial-load]
        [--cfg-options k=v ...]
    torchrun --nproc_per_node=N tools/psa_infer.py ... --launcher pytorch

Reads CAMS/{img_id}{cam_suffix} (--cam-suffix, as the CAM stage wrote them; default: the config's CAM
transform's cam_suffix, .npz unless set).
Writes MASKS/{img_id}.png (VOC-palette PNGs: 0 background, c + 1 class c) for the
images of the config's test_dataloader, atomically. Images whose mask exists are
skipped, so rerunning an interrupted job finishes it. That is only done for the
same inputs: MASKS/.mmdoei-record.json records what made the folder (the
checkpoint's sha256, the CAM folder's record, the model and random-walk
settings, the image list), and a run with other inputs stops with the differing
fields, unless --overwrite, which deletes MASKS/*.png first and recomputes all.
One run writes into MASKS at a time: a second one stops at once, naming the
first. Every CAM file still needed is checked (present, readable, classes =
image labels, size = image size) before the model is built. Unless --no-eval,
all the masks in MASKS (earlier runs' included) are then scored with the seed
metric (mask mode) against the dataset's GT masks.
"""
import argparse
import gc
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

# torch, mmengine and mmdoei are imported in main(), after the arguments are parsed:
# --help and a wrong flag answer at once, not after seconds of imports.


class DictAction(argparse.Action):
    """mmengine's ``DictAction`` (``--cfg-options a.b=1``), imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction as MMEngineDictAction
        MMEngineDictAction(self.option_strings, self.dest)(parser, namespace, values, option_string)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='AffinityNet checkpoint (tools/train.py output)')
    parser.add_argument('--cam-dir', required=True, help='stage-1 CAM files {img_id}{cam_suffix}')
    parser.add_argument('--cam-suffix', help="the CAM files' suffix, ending in .npz, as written by the CAM stage "
                        "(tools/test.py --cam-suffix, the stage-1 config's cam_suffix); default: the config's CAM "
                        "transform's cam_suffix, else .npz")
    parser.add_argument('--out-dir', required=True, help='where the pseudo-mask PNGs go')
    parser.add_argument('--data-root', help='set every data_root in the config')
    parser.add_argument('--no-eval', action='store_true', help='do not score the masks (no GT masks)')
    parser.add_argument('--overwrite', action='store_true',
                        help='if --out-dir holds masks made from other inputs, delete them instead of stopping')
    parser.add_argument('--work-dir', help='logs (default work_dirs/psa_infer/CONFIG)')
    parser.add_argument('--partial-load', action='store_true',
                        help='accept a checkpoint that does not fit the model (only its matching tensors load)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()

    import torch.distributed as torch_dist
    from mmengine.config import Config

    import mmdoei  # noqa: F401  registers everything
    from mmdoei.apis import run_psa_inference
    from mmdoei.apis.config_surgery import set_data_root
    from mmdoei.cam.io import check_cam_suffix

    if args.cam_suffix is not None:
        try:
            check_cam_suffix(args.cam_suffix)  # before the config is read or anything built
        except ValueError as e:
            raise SystemExit(f'--cam-suffix: {e}') from None

    cfg = Config.fromfile(args.config)
    if args.data_root is not None:
        set_data_root(cfg, args.data_root)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    metrics = run_psa_inference(cfg, args.checkpoint, args.cam_dir, args.out_dir, launcher=args.launcher,
                                evaluate=not args.no_eval, work_dir=args.work_dir, overwrite=args.overwrite,
                                partial_load=args.partial_load, cam_suffix=args.cam_suffix)
    if metrics:
        print(' '.join(f'{k}: {v}' for k, v in metrics.items()))
    gc.collect()  # the runner's DDP wrapper must be gone before the process group (tools/train.py)
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
