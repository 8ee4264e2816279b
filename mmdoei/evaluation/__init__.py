"""Evaluation: every score of seeds and masks, in one place.

* :mod:`.scores`: the math (confusion matrices, mIoU / FP / FN, the
  one-pass background-threshold sweep);
* :mod:`.seed_eval`: a folder of CAM files or label PNGs against GT masks,
  and its report (json, curve and per-class plots);
* :mod:`.metrics`: the same as an mmengine metric (``SeedMetric``) inside a
  Runner, and the VOC evaluation-server writer.

Seeds themselves are made by :mod:`mmdoei.cam.seeds` (``cams_to_seed``,
``minmax_normalise``), re-exported here with :func:`~mmdoei.cam.io.load_cam`
for the metric's users.
"""
from mmdoei.cam.io import load_cam
from mmdoei.cam.seeds import cams_to_seed, minmax_normalise
from .metrics import VOC_SERVER_DIR, SeedMetric, VOCServerWriter
from .scores import DEFAULT_THRESHOLDS, SeedSweep, confusion_matrix, first_drop_index, iou_fp_fn
from .seed_eval import build_report, evaluate_cam_dir, evaluate_pred_dir, format_report, write_report

__all__ = [
    'confusion_matrix', 'iou_fp_fn', 'minmax_normalise', 'cams_to_seed', 'SeedSweep', 'load_cam', 'SeedMetric',
    'DEFAULT_THRESHOLDS', 'evaluate_cam_dir', 'evaluate_pred_dir', 'build_report', 'format_report',
    'write_report', 'first_drop_index', 'VOCServerWriter', 'VOC_SERVER_DIR'
]
