"""Seed and mask quality metrics (mIoU / FP / FN, background-threshold sweep).

Importing registers :class:`SeedMetric` in mmpretrain's ``METRICS`` and, when
mmseg imports, in mmseg's.
"""
from .seed_eval import build_report, evaluate_cam_dir, evaluate_pred_dir, format_report, write_report
from .seed_metric import (DEFAULT_THRESHOLDS, SeedMetric, SeedSweep, cams_to_seed, confusion_matrix,
                          first_drop_index, iou_fp_fn, load_cam, normalize_cams)

__all__ = [
    'confusion_matrix', 'iou_fp_fn', 'normalize_cams', 'cams_to_seed', 'SeedSweep', 'load_cam', 'SeedMetric',
    'DEFAULT_THRESHOLDS', 'evaluate_cam_dir', 'evaluate_pred_dir', 'build_report', 'format_report',
    'write_report', 'first_drop_index'
]
