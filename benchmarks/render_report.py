"""Time the comparison report on VOC train's size: 1,464 images, two CAM runs.

    PYTHONPATH=. python benchmarks/render_report.py [--images 1464] [--size 64]

The images are small synthetic ones (``make_synthetic_voc``, 64 x 64 by default) with
synthetic CAM files, so the numbers are the report's own cost (evaluation, thumbnails,
HTML), not decoding VOC's 500 x 375 JPEGs. Prints a table: first run (every thumbnail
drawn) and rerun (thumbnails reused), and the labelled renderer per image.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=1464)
    parser.add_argument('--size', type=int, default=64)
    args = parser.parse_args()
    import cv2

    from mmdoei.analysis.compare import compare_runs
    from mmdoei.cam.io import save_cam
    from mmdoei.cam.render import CAMRenderer
    from mmdoei.utils.files import read_label_png
    from projects.wsss_lab.synthetic import make_synthetic_voc
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        voc = make_synthetic_voc(tmp / 'data', num_train=args.images, num_val=0, img_size=(args.size, args.size),
                                 num_train_voc=args.images)
        rng = np.random.default_rng(0)
        for run in ('a', 'b'):
            (tmp / run).mkdir()
        for png in sorted((voc / 'SegmentationClassAug').glob('*.png')):
            gt = read_label_png(str(png))
            labels = sorted(int(c) - 1 for c in np.unique(gt) if 0 < c < 21)
            good = np.stack([cv2.GaussianBlur((gt == c + 1).astype(np.float32), (7, 7), 2) for c in labels])
            bad = 0.6 * np.roll(good, 5, axis=2) + 0.4 * rng.random(good.shape, np.float32)
            save_cam(tmp / 'a' / f'{png.stem}.npz', labels, bad / bad.max(axis=(1, 2), keepdims=True))
            save_cam(tmp / 'b' / f'{png.stem}.npz', labels, good / good.max(axis=(1, 2), keepdims=True))
        rows = []
        for what in ('report, first run', 'report, rerun (thumbnails reused)'):
            t = time.perf_counter()
            res = compare_runs([str(tmp / 'a'), str(tmp / 'b')], str(voc), str(tmp / 'report'))
            rows.append((what, time.perf_counter() - t, f'{res["thumbs_written"]} thumbnails written'))
        renderer = CAMRenderer()
        img = rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)
        cams = rng.random((2, args.size, args.size), np.float32)
        seed = (cams[0] > 0.5).astype(np.int64)
        renderer.render(img, cams, [0, 1], ['a', 'b'], seed=seed)  # the first draw sets matplotlib up
        t = time.perf_counter()
        for _ in range(args.images):
            renderer.render(img, cams, [0, 1], ['a', 'b'], seed=seed)
        rows.append(('CAMRenderer.render (labelled grid)', time.perf_counter() - t, 'image + 2 CAMs + seeds'))
    print(f'{args.images} synthetic images of {args.size} x {args.size}, two runs')
    print(f'{"step":<40} {"seconds":>8} {"ms/image":>9}  note')
    for what, sec, note in rows:
        print(f'{what:<40} {sec:8.1f} {1000 * sec / args.images:9.1f}  {note}')


if __name__ == '__main__':
    main()
