"""Data generators: everything mmdoei makes instead of downloading.

* :mod:`.synthetic`: VOC 2012 / COCO 2014-layout segmentation sets of drawn
  objects (the demo's and the tests' data);
* :mod:`.procedural`: the 100-class image set the small backbone is pretrained on;
* :mod:`.standin_cams`: CAM files made from GT masks, to exercise stage 2
  without a classifier.
"""
from .procedural import make_procedural_pretrain
from .standin_cams import make_standin_cams, standin_cam
from .synthetic import make_synthetic_coco, make_synthetic_voc

__all__ = ['make_procedural_pretrain', 'make_standin_cams', 'make_synthetic_coco', 'make_synthetic_voc', 'standin_cam']
