"""Evaluation: the seed metric (mmengine ``BaseMetric``), folder evaluation and
reports, and the VOC evaluation-server writer.

The seed math (normalisation, ``cams_to_seed``, the threshold sweep,
confusion matrices) lives in :mod:`mmdoei.cam.seeds` and the CAM file format in
:mod:`mmdoei.cam.io`; their names are re-exported here for the metric's users.
"""
from mmdoei.cam.io import load_cam
from mmdoei.cam.seeds import (DEFAULT_THRESHOLDS, SeedSweep, cams_to_seed, confusion_matrix, first_drop_index,
                              iou_fp_fn, minmax_normalise)
from .metrics import VOC_SERVER_DIR, SeedMetric, VOCServerWriter
from .seed_eval import build_report, evaluate_cam_dir, evaluate_pred_dir, format_report, write_report

__all__ = [
    'confusion_matrix', 'iou_fp_fn', 'minmax_normalise', 'cams_to_seed', 'SeedSweep', 'load_cam', 'SeedMetric',
    'DEFAULT_THRESHOLDS', 'evaluate_cam_dir', 'evaluate_pred_dir', 'build_report', 'format_report',
    'write_report', 'first_drop_index', 'VOCServerWriter', 'VOC_SERVER_DIR'
]
