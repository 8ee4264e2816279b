"""mmengine metrics: seed / mask quality (mmpretrain's and mmseg's ``METRICS``) and the VOC server writer (mmseg's)."""
from .seed_metric import SeedMetric
from .voc_server import VOC_SERVER_DIR, VOCServerWriter

__all__ = ['SeedMetric', 'VOCServerWriter', 'VOC_SERVER_DIR']
