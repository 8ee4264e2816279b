r"""Evaluate CAM seeds (threshold sweep) or label PNGs against GT masks.

    python tools/analysis_tools/eval_seeds.py --cam-dir work_dirs/cams \
        --data-root data/VOCdevkit/VOC2012 --split ImageSets/Segmentation/train.txt \
        --out-dir work_dirs/seed_eval [--cam-suffix _cam.npz]

Prints the per-class table and writes OUT/seed_eval.json, OUT/seed_curve.png
(CAM mode) and OUT/seed_classes.png, all or none (a full disk leaves the
previous report as it was). COCO: ``--num-classes 81 --gt-dir
SegmentationClass/train2014 --split train_id.txt``.
"""
import argparse
import os.path as osp
import sys

import numpy as np

# mmdoei (and with it torch) is imported in main(), after the arguments are parsed: --help answers at once.


def parse_thresholds(items):
    """Floats, or ``start:stop:step`` ranges (stop excluded), e.g. ``0:0.96:0.01``."""
    if not items:
        return None
    out = []
    for item in items:
        if ':' in item:
            start, stop, step = (float(v) for v in item.split(':'))
            out += np.round(np.arange(start, stop - 1e-9, step), 6).tolist()
        else:
            out.append(float(item))
    return sorted(set(out))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--cam-dir', help='folder of {img_id}{cam_suffix} CAM files (keys, cams)')
    src.add_argument('--pred-dir', help='folder of {img_id}.png label maps (P or L mode)')
    parser.add_argument('--data-root', required=True, help='dataset root, e.g. data/VOCdevkit/VOC2012')
    parser.add_argument(
        '--split', default='ImageSets/Segmentation/train.txt', help='id list, relative to --data-root')
    parser.add_argument('--gt-dir', default='SegmentationClassAug', help='GT masks, relative to --data-root')
    parser.add_argument('--out-dir', required=True, help='where seed_eval.json and the plots go')
    parser.add_argument(
        '--thresholds', nargs='+', help='values or start:stop:step ranges (default 0:0.96:0.01)')
    parser.add_argument('--cam-suffix', help="with --cam-dir: the CAM files' suffix, ending in .npz, as written by "
                        "the CAM stage (tools/test.py --cam-suffix, the stage-1 config's cam_suffix; default: .npz)")
    parser.add_argument('--num-classes', type=int, default=21, help='classes including background')
    parser.add_argument('--ignore-index', type=int, default=255)
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.cam_suffix is not None and not args.cam_dir:
        raise SystemExit('--cam-suffix is for CAM files (--cam-dir); --pred-dir reads {img_id}.png')
    from mmdoei.cam.io import CAM_SUFFIX, check_cam_suffix
    try:
        suffix = check_cam_suffix(CAM_SUFFIX if args.cam_suffix is None else args.cam_suffix)  # before any file
    except ValueError as e:
        raise SystemExit(f'--cam-suffix: {e}') from None
    from mmdoei.datasets import read_split, seg_class_names
    from mmdoei.evaluation import build_report, evaluate_cam_dir, evaluate_pred_dir, format_report, write_report
    split = osp.join(args.data_root, args.split)
    gt_dir = osp.join(args.data_root, args.gt_dir)
    ids = read_split(split)
    common = dict(
        num_classes=args.num_classes,
        ignore_index=args.ignore_index,
        progress=not args.no_progress,
        listed_by=f'split file {split}')
    if args.cam_dir:
        result = evaluate_cam_dir(
            args.cam_dir, gt_dir, ids, thresholds=parse_thresholds(args.thresholds), suffix=suffix, **common)
    else:
        result = evaluate_pred_dir(args.pred_dir, gt_dir, ids, **common)
    report = build_report(result, seg_class_names(args.num_classes))
    print('\n' + format_report(report))
    for path in write_report(report, args.out_dir):
        print(f'wrote {path}')


if __name__ == '__main__':
    sys.exit(main())
