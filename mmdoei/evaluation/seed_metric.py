"""Seed / mask quality: mIoU, FP (over-activation) and FN (under-activation).

Definitions (DOEI-SPEC.md, "Metrics"), per class ``c`` with ``TP``, ``P``
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

CAM files (one per image, written by the CAM stage): ``{img_id}.npz`` with
``keys`` (int64, shape ``(K,)``, 0-based foreground classes, the image's
labels) and ``cams`` (float16, ``(K, H, W)`` at the original image size, values
in ``[0, 1]``). See :func:`load_cam`.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmdoei.datasets.categories import seg_class_names
from mmdoei.datasets.utils import read_label_png
from mmdoei.utils.io import load_npz

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


def normalize_cams(cams: np.ndarray) -> np.ndarray:
    """Min-max normalise each map of ``(K, H, W)`` to ``[0, 1]`` (float32).

    A constant map (no localisation) becomes all zeros. No epsilon is added to
    the range, so maps already spanning ``[0, 1]`` come back unchanged.
    """
    cams = np.asarray(cams, dtype=np.float32)
    if cams.shape[0] == 0:
        return cams
    lo = cams.min(axis=(1, 2), keepdims=True)
    rng = cams.max(axis=(1, 2), keepdims=True) - lo
    safe = np.where(rng > 0, rng, 1)
    return np.where(rng > 0, (cams - lo) / safe, 0).astype(np.float32)


def _best_fg(cams: np.ndarray, class_ids: Sequence[int], normalize: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Per pixel: the top normalised score and its label (class id + 1).

    Maps are ordered by class id first, and ``argmax`` keeps the first of
    equal maxima, so a tie between classes goes to the lower class id, as in
    PSA/MCTformer, whose score tensor is indexed by class.
    """
    cams = np.asarray(cams)
    class_ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    if cams.ndim != 3 or cams.shape[0] != class_ids.size:
        raise ValueError(f'cams must be (K, H, W) with K = len(class_ids) = {class_ids.size}, '
                         f'got shape {cams.shape}')
    if class_ids.size == 0:
        return (np.full(cams.shape[1:], -np.inf, np.float32), np.zeros(cams.shape[1:], np.int64))
    order = np.argsort(class_ids, kind='stable')
    cams = normalize_cams(cams[order]) if normalize else np.asarray(cams[order], np.float32)
    top = cams.argmax(axis=0)
    return np.take_along_axis(cams, top[None], 0)[0], class_ids[order][top] + 1


def cams_to_seed(cam: np.ndarray,
                 class_ids: Sequence[int],
                 bg_threshold: float,
                 normalize: bool = True) -> np.ndarray:
    """Turn an image's CAMs into a seed label map (DOEI-SPEC, "Seeds").

    The maps of the image's labelled classes are min-max normalised per class;
    a pixel gets ``class_id + 1`` of its top class if that score beats the
    background threshold, else 0 (background).

    Ties follow PSA/MCTformer, which pad a background plane of constant value
    ``bg_threshold`` in front of the class planes and take ``argmax`` (first
    maximum wins): a pixel whose top score *equals* the threshold is
    background, i.e. foreground needs ``score > threshold`` (the spec's "at
    least" differs only on exact ties). Both sides are compared in float32,
    as those scripts do. Ties between classes go to the lower class id.

    Args:
        cam: ``(K, H, W)`` maps, one per labelled class.
        class_ids: The K 0-based foreground class ids of the maps.
        bg_threshold: The background threshold ``beta``.
        normalize: Min-max normalise each map first (default).

    Returns:
        int64 ``(H, W)`` labels, 0 = background.
    """
    score, label = _best_fg(cam, class_ids, normalize)
    return np.where(score > np.float32(bg_threshold), label, 0)


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
        score, label = _best_fg(cams, class_ids, self.normalize)
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


def load_cam(path: str, num_classes: int = 21) -> Tuple[np.ndarray, np.ndarray]:
    """Load and check one CAM file (format in the module docstring).

    Args:
        path: The ``{img_id}.npz`` file.
        num_classes: Classes including background; keys must be in
            ``0..num_classes-2``.

    Returns:
        ``(keys int64 (K,), cams float32 (K, H, W))``.

    Raises:
        ValueError: naming the file, when it is truncated or corrupt, lacks
            ``keys``/``cams``, has wrong dtypes or shapes, repeated or
            out-of-range keys, or non-finite values.
    """
    data = load_npz(path)
    missing = {'keys', 'cams'} - set(data)
    if missing:
        raise ValueError(f'{path}: missing array(s) {sorted(missing)}; a CAM file holds '
                         f'"keys" (K,) and "cams" (K, H, W), found {sorted(data)}')
    keys, cams = data['keys'], data['cams']
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        raise ValueError(f'{path}: "keys" must be a 1-D integer array, got {keys.dtype} {keys.shape}')
    if cams.ndim != 3 or not np.issubdtype(cams.dtype, np.floating):
        raise ValueError(f'{path}: "cams" must be a float (K, H, W) array, got {cams.dtype} {cams.shape}')
    if cams.shape[0] != keys.size:
        raise ValueError(f'{path}: {keys.size} keys but {cams.shape[0]} maps in "cams" {cams.shape}')
    if keys.size and (keys.min() < 0 or keys.max() > num_classes - 2):
        raise ValueError(f'{path}: keys {keys.tolist()} out of range 0..{num_classes - 2} '
                         f'(0-based foreground classes of {num_classes - 1})')
    if np.unique(keys).size != keys.size:
        raise ValueError(f'{path}: repeated keys {keys.tolist()}')
    cams = cams.astype(np.float32)
    if not np.all(np.isfinite(cams)):
        bad = int((~np.isfinite(cams)).sum())
        raise ValueError(f'{path}: "cams" holds {bad} NaN/inf values')
    return keys.astype(np.int64), cams


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _pixel_data(sample: dict, key: str) -> Optional[np.ndarray]:
    """``sample[key]['data']`` (mmseg's PixelData as a dict) squeezed to 2-D."""
    field = sample.get(key)
    if field is None:
        return None
    data = field['data'] if isinstance(field, dict) else getattr(field, 'data', field)
    return _to_numpy(data).squeeze()


class SeedMetric(BaseMetric):
    """mIoU / FP / FN of CAM seeds (with a threshold sweep) or of label maps.

    Each data sample (a dict, as mmengine's evaluator passes them) brings its
    GT as ``gt_sem_seg`` (mmseg style) or ``seg_map_path`` (a label PNG), and
    either

    * ``pred_sem_seg``: a label map (mask mode, like mmseg's ``IoUMetric``
      plus FP/FN), or
    * ``cams`` ``(K, H, W)`` with ``cam_keys`` (0-based classes; defaults to
      ``gt_label``, the image's labels): seed mode, swept over thresholds.

    Counts are accumulated in place (one entry per worker in ``results``), so
    memory does not grow with the dataset. Returned keys: ``mIoU``, ``FP``,
    ``FN`` (percent), plus ``bg_threshold`` in seed mode; the per-class table
    is logged.

    Args:
        num_classes: Classes including background.
        thresholds: Seed-mode thresholds (default 0.00..0.95 step 0.01).
        ignore_index: GT value left out.
        class_names: Names for the table; default from ``dataset_meta`` or
            :func:`seg_class_names`.
        collect_device: See :class:`mmengine.evaluator.BaseMetric`.
        prefix: Metric name prefix.
    """

    default_prefix = 'seed'

    def __init__(self,
                 num_classes: int = 21,
                 thresholds: Optional[Sequence[float]] = None,
                 ignore_index: int = 255,
                 class_names: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.thresholds = thresholds
        self.ignore_index = ignore_index
        self.class_names = class_names

    def _accumulator(self, mode: str) -> dict:
        if not self.results:
            acc = dict(mode=mode)
            if mode == 'seed':
                acc['sweep'] = SeedSweep(self.num_classes, self.thresholds, self.ignore_index)
            else:
                acc['confusion'] = np.zeros((self.num_classes, self.num_classes + 1), np.int64)
            self.results.append(acc)
        acc = self.results[0]
        if acc['mode'] != mode:
            raise ValueError('SeedMetric got both label maps and CAMs; evaluate them separately')
        return acc

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Add a batch of samples to the counts."""
        for sample in data_samples:
            gt = _pixel_data(sample, 'gt_sem_seg')
            if gt is None:
                if not sample.get('seg_map_path'):
                    raise ValueError('a sample has neither gt_sem_seg nor seg_map_path')
                gt = read_label_png(sample['seg_map_path'])
            name = sample.get('img_path', sample.get('img_id', '?'))
            try:
                pred = _pixel_data(sample, 'pred_sem_seg')
                if pred is not None:
                    confusion_matrix(
                        pred,
                        gt,
                        self.num_classes,
                        self.ignore_index,
                        out=self._accumulator('mask')['confusion'])
                elif sample.get('cams') is not None:
                    keys = sample.get('cam_keys', sample.get('gt_label'))
                    if keys is None:
                        raise ValueError('sample has cams but neither cam_keys nor gt_label')
                    cams = _to_numpy(sample['cams'])
                    self._accumulator('seed')['sweep'].add(cams, _to_numpy(keys).reshape(-1), gt)
                else:
                    raise ValueError('sample has neither pred_sem_seg nor cams')
            except ValueError as e:
                raise ValueError(f'{name}: {e}') from e

    def _meta_class_names(self) -> Optional[Sequence[str]]:
        # mmseg's metainfo lists background, mmpretrain's (image labels) not.
        classes = tuple((self.dataset_meta or {}).get('classes') or ())
        if len(classes) == self.num_classes:
            return classes
        if len(classes) == self.num_classes - 1:
            return ('background', ) + classes
        return None

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the workers' counts and report the metrics (percent)."""
        if not results:
            raise ValueError('SeedMetric received no samples')
        names = self.class_names or self._meta_class_names() or seg_class_names(self.num_classes)
        mode = results[0]['mode']
        if mode == 'seed':
            sweep = results[0]['sweep']
            for r in results[1:]:
                sweep.merge(r['sweep'])
            res = sweep.results()
            best, fd = res['best'], res['first_drop']
            # both threshold rules: the best over the sweep, and the MCTformer authors' first drop
            metrics = dict(bg_threshold=res['best_threshold'], authors_bg_threshold=res['first_drop_threshold'],
                           authors_mIoU=round(fd['miou'] * 100, 2))
        else:
            best = iou_fp_fn(sum(r['confusion'] for r in results))
            metrics = {}
        metrics.update(
            mIoU=round(best['miou'] * 100, 2), FP=round(best['mfp'] * 100, 2), FN=round(best['mfn'] * 100, 2))
        print_log('\n' + format_table(best, names), logger=MMLogger.get_current_instance())
        return metrics


def format_table(metrics: dict, class_names: Sequence[str]) -> str:
    """A plain-text per-class table of IoU / FP / FN in percent, plus means."""
    rows = [f'{"class":>16} {"IoU":>7} {"FP":>7} {"FN":>7}']
    for i, name in enumerate(class_names):
        rows.append(f'{name:>16} ' + ' '.join(f'{metrics[k][i] * 100:7.2f}' for k in ('iou', 'fp', 'fn')))
    rows.append(f'{"mean":>16} ' + ' '.join(f'{metrics[k] * 100:7.2f}' for k in ('miou', 'mfp', 'mfn')))
    return '\n'.join(rows)


try:  # mmpretrain's registry: the classification runner that produces CAMs.
    from mmpretrain.registry import METRICS as _PRETRAIN_METRICS
except ImportError:  # pragma: no cover - mmpretrain is a hard dependency
    _PRETRAIN_METRICS = None
else:
    _PRETRAIN_METRICS.register_module(module=SeedMetric)

try:  # mmseg's registry: its test loop evaluates pseudo masks / predictions.
    from mmseg.registry import METRICS as _SEG_METRICS
except ImportError:  # pragma: no cover
    _SEG_METRICS = None
else:
    _SEG_METRICS.register_module(module=SeedMetric)
