"""Datasets for weakly supervised segmentation (registered in mmpretrain's
``DATASETS`` on import) and the synthetic-data makers."""
from .categories import COCO_CATEGORIES, COCO_CLASSES, VOC_CLASSES, seg_class_names, voc_palette
from .coco import COCOWSSSDataset
from .synthetic import make_synthetic_coco, make_synthetic_voc
from .utils import read_label_png, read_split
from .voc import VOCWSSSDataset, labels_from_mask, labels_from_xml, read_cls_labels

__all__ = [
    'VOCWSSSDataset', 'COCOWSSSDataset', 'make_synthetic_voc', 'make_synthetic_coco', 'read_cls_labels',
    'labels_from_mask', 'labels_from_xml', 'read_label_png', 'read_split', 'VOC_CLASSES', 'COCO_CLASSES', 'COCO_CATEGORIES',
    'seg_class_names', 'voc_palette'
]
from . import transforms  # noqa: F401,E402  (last: it imports mmdoei.evaluation)
