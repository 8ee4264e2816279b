"""Datasets and transforms: VOC/COCO with image-level labels (stages 1 and 2,
mmpretrain's ``DATASETS``), pseudo-mask segmentation datasets (stage 3, mmseg's),
and the transforms of stages 2 and 3. The data generators are
:mod:`mmdoei.generators`."""
from mmdoei.utils.files import read_label_png, read_split
from .categories import COCO_CATEGORIES, COCO_CLASSES, VOC_CLASSES, seg_class_names, voc_palette
from .coco import COCOWSSSDataset
from .pseudo_mask import COCOObjectDataset, PseudoMaskMixin, VOCPseudoMaskDataset
from .transforms import *  # noqa: F401,F403
from .voc import VOCWSSSDataset, labels_from_mask, labels_from_xml, read_cls_labels

__all__ = [
    'VOCWSSSDataset', 'COCOWSSSDataset', 'VOCPseudoMaskDataset', 'COCOObjectDataset', 'PseudoMaskMixin',
    'read_cls_labels', 'labels_from_mask', 'labels_from_xml', 'read_label_png', 'read_split', 'VOC_CLASSES',
    'COCO_CLASSES', 'COCO_CATEGORIES', 'seg_class_names', 'voc_palette'
]
