"""Run the whole WSSS pipeline from a stage-1 config into one work directory.

    python tools/run_pipeline.py STAGE1_CONFIG --work-dir DIR [--data-root ROOT] [--doei]
    # CPU scale, on a synthetic VOC-layout set written into DIR/data, baseline and DOEI; a first look
    # (minutes; without the four scale options: the full tiny run, about 12 minutes):
    python tools/run_pipeline.py configs/demo/mctformer-v2_vit-4l128_synthetic-64.py --tiny --doei \
        --synthetic-images 16 --stage1-epochs 1 --psa-epochs 1 --seg-iters 2 --work-dir work_dirs/pipeline_first_look
    # N processes (GPUs, or gloo on the CPU):
    torchrun --nproc_per_node=N tools/run_pipeline.py STAGE1_CONFIG ... --launcher pytorch

Every stage runs in this process (see :mod:`mmdoei.apis.pipeline`); a rerun
continues at each variant's first unfinished stage. The table of seed, mask
and val mIoU is printed and written to DIR/summary.md and DIR/summary.json.
With --tiny and no --data-root, the synthetic set comes from the repository's
research harness (projects/wsss_lab, not installed by pip): run from a clone.

One run at a time per work directory: a second one stops at once ("in use by
another run"). A refusal (a lock held, a stage folder of other inputs, a
record that cannot be used) exits with status 2 and its message.
"""
import argparse
import gc
import os
import os.path as osp
import sys
from pathlib import Path
from typing import Optional, Sequence

ROOT = osp.abspath(osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, ROOT)  # mmdoei of this checkout and projects/ (the synthetic set of --tiny)

# torch and mmdoei are imported in main(), after the arguments are parsed (--help answers at once);
# the stage names the parser offers are spelled here, and main() checks them against mmdoei's.
STAGES = ('stage1_train', 'cams', 'seed_eval', 'affinity_train', 'pseudo_masks', 'mask_eval', 'seg_train',
          'seg_test')  # mmdoei.apis.pipeline.STAGES


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
    parser.add_argument('--from-stage', choices=STAGES, help='redo this stage and all after it')
    parser.add_argument('--overwrite', action='store_true',
                        help='redo a stage whose outputs were made from other inputs (another config value, '
                        'checkpoint or image list) instead of stopping; its outputs and the later stages\' are deleted')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def synthetic_data(work: Path, num_train: int, overwrite: bool) -> str:
    """The synthetic VOC-layout set of ``num_train`` train_aug images (val: 1/4) in ``WORK/data``,
    written once (rank 0 writes, every rank gets the path); returns its ``VOC2012`` folder."""
    from mmengine.dist import broadcast_object_list, get_rank
    try:
        from projects.wsss_lab.data import ensure_synthetic_voc
    except ModuleNotFoundError as e:
        if e.name not in ('projects', 'projects.wsss_lab', 'projects.wsss_lab.data'):
            raise
        raise RuntimeError(f'--tiny without --data-root writes a synthetic set with projects/wsss_lab, which is '
                           f'in the repository, not in the installed package, and {ROOT} has no projects/ folder: '
                           'run tools/run_pipeline.py from a clone of the repository, or pass --data-root') from e
    Path(work).mkdir(parents=True, exist_ok=True)
    result = [str(ensure_synthetic_voc(str(work), num_train, img_size=64, num_val=max(1, num_train // 4),
                                       overwrite=overwrite)) if get_rank() == 0 else None]
    broadcast_object_list(result)
    return result[0]


def refuse(message: str) -> None:
    """Exit with status 2 and ``message`` (as argparse's ``parser.error``): a refusal names the user's folder
    or file and what to do; a traceback would only hide that."""
    print(f'{osp.basename(__file__)}: error: {message}', file=sys.stderr, flush=True)
    sys.exit(2)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)

    import torch.distributed as torch_dist

    from mmdoei.apis import pipeline
    from mmdoei.utils.locks import LockedError, UnsafeLockFileError
    from mmdoei.utils.record import RecordError
    if tuple(pipeline.STAGES) != STAGES:
        raise RuntimeError(f'{__file__}: STAGES differs from mmdoei.apis.pipeline.STAGES {pipeline.STAGES}: update it')
    run_pipeline = pipeline.run_pipeline
    command = 'python tools/run_pipeline.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    data_root, data_hint = args.data_root, ''
    cfg = pipeline.check_stage1_config(args.config, args.from_stage)  # a bad config is refused before the data
    work = pipeline.pipeline_work_dir(args.config, args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        # one lock over the synthetic set (in WORK/data) and every stage: a second run stops at once
        with pipeline.work_dir_lock(work, args.launcher, cfg):
            if args.tiny and data_root is None:
                data_root = synthetic_data(work, args.synthetic_images, args.overwrite)
                n = args.synthetic_images
                data_hint = f'--synthetic-images {n} writes {n} train_aug images'
            rows = run_pipeline(args.config, str(work), data_root, doei=args.doei, doei_config=args.doei_config,
                                psa_config=args.psa_config, seg_config=args.seg_config, tiny=args.tiny,
                                data_hint=data_hint, stage1_epochs=args.stage1_epochs,
                                psa_epochs=args.psa_epochs, seg_iters=args.seg_iters, launcher=args.launcher,
                                from_stage=args.from_stage, overwrite=args.overwrite, command=command,
                                locked=True)
    except (RecordError, LockedError, UnsafeLockFileError) as e:  # refusals: nothing was changed
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.destroy_process_group()  # every rank refuses alike (work_dir_lock): none is left waiting
        refuse(str(e))
    gc.collect()  # the runners' DDP wrappers must be gone before the process group (tools/train.py)
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
    return rows


if __name__ == '__main__':
    main()
