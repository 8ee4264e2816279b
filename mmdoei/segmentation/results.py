"""Reading the metrics mmengine's ``LoggerHook`` wrote into a work directory.

``tools/test.py`` prints its metrics and the logger hook stores them as
``{work_dir}/{timestamp}/{timestamp}.json``; validation during training goes
to ``{work_dir}/{timestamp}/vis_data/scalars.json``. Scripts that run the
tools as subprocesses (the pipeline runner, tests) read them back here.
"""
import glob
import json
import os.path as osp
from typing import Dict, Optional


def latest_test_metrics(work_dir: str, key: str = 'mIoU') -> Optional[Dict[str, float]]:
    """Metrics of the newest test run in ``work_dir`` that logged ``key``, or None."""
    # Run folders are named by timestamp (YYYYMMDD_HHMMSS), so sorting is chronological.
    for run in sorted(glob.glob(osp.join(work_dir, '*_*')), reverse=True):
        path = osp.join(run, osp.basename(run) + '.json')
        if osp.isfile(path):
            with open(path) as f:
                metrics = json.load(f)
            if key in metrics:
                return metrics
    return None


def latest_val_metrics(work_dir: str, key: str = 'mIoU') -> Optional[Dict[str, float]]:
    """The last validation result logged with ``key`` by training runs in ``work_dir``, or None."""
    for run in sorted(glob.glob(osp.join(work_dir, '*_*')), reverse=True):
        path = osp.join(run, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        found = [r for r in rows if key in r]
        if found:
            return found[-1]
    return None


__all__ = ['latest_test_metrics', 'latest_val_metrics']
