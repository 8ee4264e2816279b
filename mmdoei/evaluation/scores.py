"""Scores of seeds and masks: confusion matrices, mIoU, FP (over-activation) and
FN (under-activation), and the one-pass background-threshold sweep of CAM seeds.

Definitions (docs/method.md, "Metrics"), per class ``c`` with ``TP``, ``P``
(predicted) and ``T`` (ground truth) pixel counts, GT pixels of value
``ignore_index`` left out::

    IoU_c = TP / (T + P - TP)
    FP_c  = (P - TP) / (T + P - TP)
    FN_c  = (T - TP) / (T + P - TP)

so ``IoU_c + FP_c + FN_c = 1``. Means are over classes including background.
A class absent from both prediction and GT has ``T + P - TP = 0``: its IoU,
FP and FN are NaN and the means skip it (``nanmean``), exactly what mmseg's
``IoUMetric`` does, so the two report the same mIoU. (MCTformer's script adds
1e-10 to the denominator instead, which counts such a class as IoU 0; on the
full VOC train set every class occurs, so the conventions agree there.)

Seeds themselves (normalisation, ``cams_to_seed``) are made by
:mod:`mmdoei.cam.seeds`; folders of CAM files or label PNGs are scored by
:mod:`mmdoei.evaluation.seed_eval` and, inside a Runner, by
:class:`~mmdoei.evaluation.SeedMetric`: all three use these functions.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np

from mmdoei.cam.seeds import top_foreground

#: Default background thresholds of the sweep: 0.00, 0.01, ..., 0.95.
DEFAULT_THRESHOLDS = tuple(np.round(np.arange(0, 0.96, 0.01), 2).tolist())


def confusion_matrix(pred: np.ndarray,
                     gt: np.ndarray,
                     num_classes: int,
                     ignore_index: int = 255,
                     out: Optional[np.ndarray] = None) -> np.ndarray:
    """Count pixels by (GT class, predicted class).

    Args:
        pred: Predicted labels ``0..num_classes-1``; ``ignore_index`` marks a
            pixel the prediction leaves unlabelled (as pseudo masks do).
        gt: GT labels of the same shape; ``ignore_index`` pixels are skipped.
        num_classes: Number of classes including background.
        ignore_index: The ignore value in both maps.
        out: Optional ``(num_classes, num_classes + 1)`` int64 array to add
            the counts to (accumulating over images).

    Returns:
        int64 array of shape ``(num_classes, num_classes + 1)``: rows are GT
        classes, columns predicted classes, and the last column counts GT
        pixels left unlabelled by the prediction. Those count in ``T`` but in
        no ``P`` (they are misses), as in mmseg's ``IoUMetric`` and
        MCTformer's evaluation.

    Raises:
        ValueError: on mismatched shapes or a value that is neither a class
            nor ``ignore_index``.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} differs from GT shape {gt.shape}')
    valid = gt != ignore_index
    g = gt[valid].astype(np.int64)
    p = pred[valid].astype(np.int64)
    for name, arr, allowed in (('GT', g, ()), ('prediction', p, (ignore_index, ))):
        bad = (arr < 0) | (arr >= num_classes)
        for a in allowed:
            bad &= arr != a
        if bad.any():
            raise ValueError(f'{name} value {int(arr[bad][0])} is not a class 0..{num_classes - 1} '
                             f'or the ignore value {ignore_index}')
    p = np.where(p == ignore_index, num_classes, p)
    counts = np.bincount(g * (num_classes + 1) + p, minlength=num_classes * (num_classes + 1))
    counts = counts.reshape(num_classes, num_classes + 1)
    if out is None:
        return counts.astype(np.int64)
    out += counts
    return out


def iou_fp_fn(confusion: np.ndarray) -> Dict[str, Union[np.ndarray, float]]:
    """IoU, FP and FN per class and their means from a confusion matrix.

    Args:
        confusion: ``(n, n)`` or ``(n, n + 1)`` counts from
            :func:`confusion_matrix` (rows GT, columns prediction, optional
            last column "unlabelled").

    Returns:
        ``iou``, ``fp``, ``fn``: float64 arrays ``(n,)`` (fractions, NaN for a
        class in neither map); ``miou``, ``mfp``, ``mfn``: their NaN-skipping
        means (NaN if no class occurs at all).
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    n = confusion.shape[0]
    if confusion.ndim != 2 or confusion.shape[1] not in (n, n + 1):
        raise ValueError(f'confusion matrix must be (n, n) or (n, n + 1), got {confusion.shape}')
    tp = np.diag(confusion[:, :n])
    t = confusion.sum(axis=1)
    p = confusion[:, :n].sum(axis=0)
    union = t + p - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        iou, fp, fn = tp / union, (p - tp) / union, (t - tp) / union

    def mean(x: np.ndarray) -> float:
        # np.nanmean warns on all-NaN input; an empty evaluation is just NaN.
        return float(np.nanmean(x)) if np.isfinite(x).any() else float('nan')

    return dict(iou=iou, fp=fp, fn=fn, miou=mean(iou), mfp=mean(fp), mfn=mean(fn))


class SeedSweep:
    """Accumulate seed quality for many background thresholds in one pass.

    A pixel's seed depends on the threshold only through whether its top score
    beats it, so each image is reduced to one histogram over (number of
    thresholds the score beats, GT class, top class); the confusion matrix of
    every threshold follows from cumulative sums of that histogram. Cost per
    image: one ``argmax`` and one ``bincount``, whatever the number of
    thresholds.

    Args:
        num_classes: Classes including background (VOC 21, COCO 81).
        thresholds: Background thresholds; default 0.00..0.95 step 0.01.
        ignore_index: GT value left out.
        normalize: Min-max normalise CAMs per class (default).
    """

    def __init__(self,
                 num_classes: int = 21,
                 thresholds: Optional[Sequence[float]] = None,
                 ignore_index: int = 255,
                 normalize: bool = True) -> None:
        thr = np.asarray(DEFAULT_THRESHOLDS if thresholds is None else thresholds, dtype=np.float64)
        if thr.ndim != 1 or thr.size == 0 or not np.all(np.isfinite(thr)):
            raise ValueError(f'thresholds must be a non-empty list of numbers, got {thresholds}')
        if np.any(np.diff(thr) <= 0):
            raise ValueError('thresholds must be strictly increasing')
        self.thresholds = thr
        self._thr32 = thr.astype(np.float32)  # compared in float32, as PSA does
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.normalize = normalize
        self.hist = np.zeros((thr.size + 1, num_classes, num_classes), np.int64)
        self.num_images = 0

    def add(self, cams: np.ndarray, class_ids: Sequence[int], gt: np.ndarray) -> None:
        """Add one image: its ``(K, H, W)`` CAMs, their class ids, its GT map."""
        score, label = top_foreground(cams, class_ids, self.normalize)
        gt = np.asarray(gt)
        if gt.shape != score.shape:
            raise ValueError(f'CAM size {score.shape} differs from GT size {gt.shape}')
        if np.any(label >= self.num_classes):
            raise ValueError(f'class id {int(label.max()) - 1} out of range for {self.num_classes} classes')
        valid = gt != self.ignore_index
        g = gt[valid].astype(np.int64)
        if g.size and (g.min() < 0 or g.max() >= self.num_classes):
            bad = g[(g < 0) | (g >= self.num_classes)][0]
            raise ValueError(f'GT value {int(bad)} is not a class 0..{self.num_classes - 1} '
                             f'or the ignore value {self.ignore_index}')
        # beats[i] = how many thresholds the pixel's top score exceeds: the
        # pixel is foreground exactly for threshold indices j < beats[i].
        beats = np.searchsorted(self._thr32, score[valid].astype(np.float32), side='left')
        n = self.num_classes
        idx = (beats * n + g) * n + label[valid]
        self.hist += np.bincount(idx, minlength=self.hist.size).reshape(self.hist.shape)
        self.num_images += 1

    def merge(self, other: 'SeedSweep') -> None:
        """Add another sweep's counts (e.g. from another worker)."""
        if not np.array_equal(self.thresholds, other.thresholds) or self.num_classes != other.num_classes:
            raise ValueError('can only merge sweeps with the same thresholds and classes')
        self.hist += other.hist
        self.num_images += other.num_images

    def confusions(self) -> np.ndarray:
        """``(num_thresholds, n, n)`` confusion matrices, one per threshold."""
        h = self.hist
        # pixels foreground at threshold j: beats > j; background: beats <= j
        fg = np.cumsum(h[::-1], axis=0)[::-1][1:]  # fg[j] = sum_{b > j} h[b]
        bg_rows = np.cumsum(h.sum(axis=2), axis=0)[:-1]  # sum_{b <= j} over top class
        conf = fg.copy()
        conf[:, :, 0] += bg_rows
        return conf

    def results(self) -> dict:
        """Metrics per threshold, at the best one (highest mIoU; the lowest
        such threshold on a tie) and by the MCTformer authors' rule
        (:func:`first_drop_index`).

        Returns:
            dict with ``thresholds``, ``miou``/``mfp``/``mfn`` curves (arrays),
            ``best_index``, ``best_threshold`` and ``best`` (the
            :func:`iou_fp_fn` dict at that threshold), the same three as
            ``first_drop_*`` for the authors' rule, ``num_images``.
        """
        per = [iou_fp_fn(c) for c in self.confusions()]
        miou = np.array([r['miou'] for r in per])
        best = int(np.nanargmax(miou)) if np.isfinite(miou).any() else 0
        first = first_drop_index(self.thresholds, miou)
        return dict(
            first_drop_index=first,
            first_drop_threshold=float(self.thresholds[first]),
            first_drop=per[first],
            thresholds=self.thresholds.copy(),
            miou=miou,
            mfp=np.array([r['mfp'] for r in per]),
            mfn=np.array([r['mfn'] for r in per]),
            best_index=best,
            best_threshold=float(self.thresholds[best]),
            best=per[best],
            num_images=self.num_images)


#: The last threshold of the MCTformer authors' sweep (``evaluation.py --curve``:
#: ``t = i / 100`` for ``i`` in ``range(0, 60)``).
AUTHORS_LAST_THRESHOLD = 0.59


def first_drop_index(thresholds: Sequence[float], miou: Sequence[float],
                     last: float = AUTHORS_LAST_THRESHOLD) -> int:
    """The MCTformer authors' threshold choice: the last of a strictly rising run.

    Their ``evaluation.py --curve`` walks ``t = 0.00, 0.01, ..., 0.59`` and stops
    at the first ``t`` whose mIoU does not beat the best so far, keeping the
    threshold before it. On a curve with a dip before its peak this stops
    early, where :class:`SeedSweep`'s ``best`` (the highest mIoU anywhere on
    the sweep) does not; both are reported. Only ``thresholds <= last`` are
    walked (with a tolerance for float steps); index 0 if the first mIoU is
    not above 0 (their ``best_thr`` starts at 0).
    """
    best, index = 0.0, 0
    for i, (t, m) in enumerate(zip(thresholds, miou)):
        if t > last + 1e-9 or not m > best:  # NaN does not beat anything, as theirs
            break
        best, index = float(m), i
    return index
