r"""Compare two or more CAM folders on the same images in a static HTML report.

    python tools/analysis_tools/compare_cams.py work_dirs/cams_baseline work_dirs/cams_doei \
        --data-root data/VOCdevkit/VOC2012 --out work_dirs/compare

Writes OUT/index.html and OUT/thumbs/ (self-contained: open index.html from the file
system, no server or network). The summary gives each run's seed mIoU, FP and FN at the
background threshold its seed evaluation chose, their differences and per-class IoU;
then every image with its ground truth, each run's seeds and per-class CAMs, its IoU and
the change, sortable by the change and filterable by class. Thumbnails are reused by a
rerun; the ones the report no longer shows are deleted. ``--mechanism DIR`` adds the view
written by doei_mechanism.py. OUT is locked while the tool writes it: a second run into the
same OUT stops, naming the first.
"""
import argparse
import sys

# mmdoei (and with it torch) is imported in main(), after the arguments are parsed: --help answers at once.


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', help='two or more folders of {img_id}.npz CAM files')
    parser.add_argument('--data-root', required=True, help='dataset root, e.g. data/VOCdevkit/VOC2012')
    parser.add_argument('--out', required=True, help='report folder (index.html, thumbs/)')
    parser.add_argument('--names', nargs='+', help='a name per run (default: the folder names)')
    parser.add_argument('--split', help='id list relative to --data-root (default: the first run\'s CAM files)')
    parser.add_argument('--gt-dir', default='SegmentationClassAug', help='GT masks, relative to --data-root')
    parser.add_argument('--img-dir', default='JPEGImages', help='images, relative to --data-root')
    parser.add_argument('--num-classes', type=int, default=21, help='classes including background')
    parser.add_argument('--page-size', type=int, default=50, help='image rows per page of the report')
    parser.add_argument('--mechanism', help='folder with mechanism.json/png from doei_mechanism.py')
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error(f'give at least two CAM folders to compare, got {len(args.runs)}: {args.runs}')
    if args.names and len(args.names) != len(args.runs):
        parser.error(f'--names gives {len(args.names)} names for {len(args.runs)} runs')
    return args


def main(argv=None):
    args = parse_args(argv)
    import os.path as osp

    from mmdoei.analysis.compare import compare_runs, read_compare_split
    from mmdoei.utils.locks import LockedError, UnsafeLockFileError
    try:
        split = read_compare_split(osp.join(args.data_root, args.split)) if args.split else None
        res = compare_runs(args.runs, args.data_root, args.out, names=args.names, split=split,
                           gt_dir=args.gt_dir, img_dir=args.img_dir, num_classes=args.num_classes,
                           mechanism_dir=args.mechanism, page_size=args.page_size)
    except (FileNotFoundError, ValueError, LockedError, UnsafeLockFileError) as e:
        sys.exit(f'compare_cams: {e}')
    s = res['summary']
    for name, rep, thr in zip(s['names'], s['reports'], s['thresholds']):
        m, fp, fn = (float('nan') if rep[k] is None else rep[k] for k in ('mIoU', 'FP', 'FN'))
        print(f'{name:>24}: seed mIoU {m:.2f}  FP {fp:.2f}  FN {fn:.2f}  (background threshold {thr:.2f})')
    print(f'{len(res["images"])} images; thumbnails: {res["thumbs_written"]} written, '
          f'{res["thumbs_reused"]} reused, {res["thumbs_removed"]} unused removed; report: {res["html"]}')


if __name__ == '__main__':
    main()
