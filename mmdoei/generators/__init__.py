"""Data generators the package itself needs.

* :mod:`.procedural`: the 100-class image set the shipped small backbone is
  pretrained on (:mod:`mmdoei.apis.pretrain`, ``tools/pretrain.py``).

The synthetic VOC/COCO-layout sets of the demo, the tests and the benchmarks,
and the stand-in CAMs, are research harness, not plugin: they live in the
repository's ``projects/wsss_lab/`` (not installed by pip).
"""
from .procedural import make_procedural_pretrain

__all__ = ['make_procedural_pretrain']
