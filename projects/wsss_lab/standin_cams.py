"""Stand-in CAMs made from GT masks, for exercising the pseudo-label stage
before (or without) a trained stage-1 classifier.

NOT CAMs of any model: each class map is the class's GT region, blurred (soft,
spreading onto the background: over-activation), weighted by a bump around a
random "discriminative" point inside the object and by smooth random noise
(parts of the object fade: under-activation), then min-max normalised. The
result has the failure modes AffinityNet is meant to fix, at a controllable
strength, in the exact file format of stage 1.

    python -m projects.wsss_lab.standin_cams DATA_ROOT --split ImageSets/Segmentation/train_aug.txt \
        --out-dir work_dirs/standin_cams

They go into a new or empty folder: one holding CAM files (``*.npz``) or an
mmdoei record (``.mmdoei-*.json``, e.g. a CAM stage's) is refused before
anything is written, so real CAMs are never replaced behind the back of a
record that still says a checkpoint made them.
"""
import argparse
import os.path as osp
import sys
from pathlib import Path
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import track_iter_progress

from mmdoei.cam.io import save_cam
from mmdoei.cam.seeds import minmax_normalise
from mmdoei.utils.files import read_label_png, read_split
from mmdoei.utils.locks import folder_lock

#: What makes a folder someone else's: CAM files, and the records of mmdoei's steps (a CAM folder's
#: ``.mmdoei-record.json``, a step's ``.mmdoei-step.json``).
TAKEN_PATTERNS = ('.mmdoei-*.json', '*.npz')


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x.astype(np.float32), (0, 0), sigmaX=max(sigma, 0.3), borderType=cv2.BORDER_REFLECT)


def standin_cam(mask: np.ndarray,
                rng: np.random.Generator,
                ignore_index: int = 255,
                blur: float = 0.25,
                peak: float = 0.6,
                noise: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Stand-in CAMs for the classes of one GT mask.

    Args:
        mask: ``(H, W)`` GT labels (0 background, ``c + 1`` class ``c``,
            ``ignore_index`` boundary).
        rng: Random generator (one per image for reproducibility).
        blur: Blur sigma as a fraction of the object's size (over-activation).
        peak: Strength of the bump around a random point in the object
            (0 = none; under-activation of the parts away from it).
        noise: Strength of smooth multiplicative noise.

    Returns:
        ``keys`` int64 ``(K,)`` and ``cams`` float16 ``(K, H, W)`` in ``[0, 1]``.
    """
    h, w = mask.shape
    classes = sorted(int(v) - 1 for v in np.unique(mask) if v not in (0, ignore_index))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cams = []
    for c in classes:
        region = mask == c + 1
        size = float(np.sqrt(region.sum()))
        cam = _blur(region, blur * size)
        ys, xs = np.nonzero(region)
        k = rng.integers(len(ys))
        bump = np.exp(-((yy - ys[k])**2 + (xx - xs[k])**2) / (2 * (0.6 * size)**2))
        field = _blur(rng.standard_normal((h, w)), 0.15 * min(h, w))
        field /= np.abs(field).max() + 1e-8
        cam = cam * ((1 - peak) + peak * bump) * np.clip(1 + noise * field, 0, None)
        cams.append(minmax_normalise(cam[None], dtype=cam.dtype.type)[0])
    cams = np.stack(cams) if cams else np.zeros((0, h, w), np.float32)
    return np.asarray(classes, np.int64), cams.astype(np.float16)


def make_standin_cams(data_root: str,
                      out_dir: str,
                      split: str = 'ImageSets/Segmentation/train_aug.txt',
                      gt_dir: str = 'SegmentationClassAug',
                      seed: int = 0,
                      progress: bool = True,
                      **kwargs) -> int:
    """Write ``{out_dir}/{img_id}.npz`` stand-in CAMs for a split (see module doc),
    into a new or empty folder, holding its lock meanwhile (a CAM run into it stops).

    Returns:
        The number of files written.

    Raises:
        FileExistsError: naming ``out_dir`` and what it holds, when it holds
            CAM files or an mmdoei record; nothing was written.
    """
    ids = read_split(osp.join(data_root, split))
    with folder_lock(out_dir, 'stand-in CAM folder'):
        taken = sorted(p.name for pattern in TAKEN_PATTERNS for p in Path(out_dir).glob(pattern))
        if taken:
            more = f' and {len(taken) - 3} more' if len(taken) > 3 else ''
            raise FileExistsError(
                f'stand-in CAM folder {out_dir} already holds {", ".join(taken[:3])}{more} (CAM files or an mmdoei '
                'record): stand-in CAMs would replace CAMs that a record may say a checkpoint made. Nothing was '
                'written; give a new or empty --out-dir.')
        for index, img_id in enumerate(track_iter_progress(ids, file=sys.stdout) if progress else ids):
            mask = read_label_png(osp.join(data_root, gt_dir, img_id + '.png'))
            keys, cams = standin_cam(mask, np.random.default_rng((seed, index)), **kwargs)
            save_cam(osp.join(out_dir, img_id + '.npz'), keys, cams)
    return len(ids)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='VOC2012-layout folder')
    parser.add_argument('--out-dir', required=True, help='a new or empty folder (one holding CAMs is refused)')
    parser.add_argument('--split', default='ImageSets/Segmentation/train_aug.txt')
    parser.add_argument('--gt-dir', default='SegmentationClassAug')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--blur', type=float, default=0.25)
    parser.add_argument('--peak', type=float, default=0.6)
    parser.add_argument('--noise', type=float, default=0.5)
    args = parser.parse_args(argv)
    try:
        n = make_standin_cams(args.data_root, args.out_dir, args.split, args.gt_dir, args.seed, blur=args.blur,
                              peak=args.peak, noise=args.noise)
    except FileExistsError as e:  # a refused folder: its message, not a traceback
        raise SystemExit(str(e)) from None
    print(f'\nwrote {n} stand-in CAM files to {args.out_dir}')


if __name__ == '__main__':
    main()
