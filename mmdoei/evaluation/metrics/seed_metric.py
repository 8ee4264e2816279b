"""``SeedMetric``: mIoU / FP / FN of CAM seeds or label maps as an mmengine metric.

Registered in mmpretrain's ``METRICS`` (the classification runner that
produces CAMs) and mmseg's (its test loop scores pseudo masks and
predictions). The counting itself is :mod:`mmdoei.evaluation.scores`'.
"""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmdoei.datasets.categories import seg_class_names
from mmdoei.utils.files import read_label_png
from mmdoei.utils.registry import register_in
from ..scores import SeedSweep, confusion_matrix, iou_fp_fn


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


@register_in('METRICS', 'mmpretrain', 'mmseg')
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
