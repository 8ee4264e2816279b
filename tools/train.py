"""Train any mmdoei stage from a config (a thin wrapper around mmengine's Runner).

    python tools/train.py CONFIG [--work-dir DIR] [--data-root DIR] [--resume [CKPT]]
                          [--amp] [--no-auto-scale-lr] [--cfg-options key=value ...]
    bash tools/dist_train.sh CONFIG GPUS [same options]

The learning rate scales with the total batch where the config's
``auto_scale_lr.enable`` says so (the MCTformer-recipe configs, as the
authors' ``main.py``); the log states the rate in effect.
"""
import argparse
import gc
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from typing import Any  # noqa: E402

# torch, mmengine and mmdoei are imported in main(), after the arguments are parsed:
# --help and a wrong flag answer at once, not after seconds of imports.


class DictAction(argparse.Action):
    """mmengine's ``DictAction`` (``--cfg-options a.b=1``), imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction as MMEngineDictAction
        MMEngineDictAction(self.option_strings, self.dest)(parser, namespace, values, option_string)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model (stage 1, 2 or 3)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--data-root', help='set every data_root in the config (e.g. a VOC2012 folder)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from a checkpoint; without a path, the latest in work-dir')
    parser.add_argument('--amp', action='store_true', help='mixed precision training (GPU)')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument('--auto-scale-lr', dest='auto_scale_lr', action='store_true', default=None,
                       help='scale lr with the total batch (already on where the config enables it)')
    scale.add_argument('--no-auto-scale-lr', dest='auto_scale_lr', action='store_false',
                       help='keep the config\'s lr whatever the number of GPUs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Any, args: argparse.Namespace) -> Any:
    """Fold the command line into the config, as mmpretrain's train.py does."""
    from mmdoei.apis.config_surgery import set_data_root
    from mmdoei.utils.config import check_amp_device

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        try:
            check_amp_device()
        except ValueError as e:
            raise SystemExit(str(e)) from None
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr is not None and cfg.get('auto_scale_lr') is not None:
        cfg.auto_scale_lr.enable = args.auto_scale_lr
    elif args.auto_scale_lr:
        raise SystemExit(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size')
    cfg.launcher = args.launcher
    if args.data_root is not None:
        set_data_root(cfg, args.data_root)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def effective_lr(cfg: Any, world_size: int) -> str:
    """One log line: the optimizer's lr in effect and how it came about.

    mmengine's Runner scales the rate itself (``auto_scale_lr``) and logs only
    the ratio; this states the rate, so a run can be checked against the
    authors' ``lr * batch * world_size / 512``.
    """
    lr = cfg.optim_wrapper.get('optimizer', {}).get('lr')
    batch = cfg.train_dataloader.batch_size
    scale = cfg.get('auto_scale_lr') or {}
    if lr is None:
        return 'learning rate: set by the optimizer wrapper (no optimizer.lr in the config)'
    if scale.get('enable', False):
        ratio = world_size * batch / scale['base_batch_size']
        return (f'learning rate {lr * ratio:.6g} = {lr:.6g} x {world_size} rank(s) x {batch} / '
                f'{scale["base_batch_size"]} (auto_scale_lr on: linear in the total batch of {world_size * batch})')
    return (f'learning rate {lr:.6g} for a total batch of {world_size * batch} '
            '(auto_scale_lr off: not scaled with the number of GPUs)')


def main() -> None:
    args = parse_args()

    import torch.distributed as torch_dist
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    import mmdoei  # noqa: F401  registers everything
    from mmdoei.utils import setup_env

    setup_env()
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.logger.info(effective_lr(cfg, runner.world_size))
    runner.train()
    # Tear gloo/nccl down explicitly, after the DDP wrapper is gone: left to
    # interpreter exit, or with the wrapper alive, a gloo rank can abort
    # ("terminate called without an active exception") after a good run.
    del runner
    gc.collect()
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
