"""Models of the three stages, by component as in mmpretrain and mmseg.

* ``backbones``: the multi-class-token ViT, TransCAM's Conformer, ResNet-38d;
* ``classifiers``, ``heads``, ``losses``, ``necks``: stage 1 (MCTformer-V1/V2, TS-CAM, TransCAM);
* ``affinity``: stage 2 (PSA's AffinityNet, its head, the random walk);
* ``decode_heads``, ``segmentors``: stage 3 (DeepLab heads, CRF test-time augmentation);
* ``utils``: checkpoint conversion.
"""
from .affinity import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .decode_heads import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import ClassTokenNeck  # noqa: F401
from .segmentors import *  # noqa: F401,F403
