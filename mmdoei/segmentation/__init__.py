"""Stage 3: DeepLab on the pseudo masks, with mmseg.

Importing this package registers, in mmseg's registries, the decode heads
:class:`LargeFOVHead` (DeepLab-v1, as the DOEI paper's ResNet-38d DeepLab) and
:class:`ASPPV2Head` (DeepLab-v2), the TTA model with dense CRF
:class:`CRFSegTTAModel`, the datasets :class:`VOCPseudoMaskDataset` and
:class:`COCOObjectDataset`, the transform :class:`RandomRescale` and the
metric :class:`VOCServerWriter`; and, through its imports, ResNet-38d and the
stage-2 transform ``LoadPseudoMask`` that reads the masks. Configs say
``custom_imports=dict(imports=['mmdoei', 'mmdoei.segmentation'])``.
"""
from mmdoei.datasets import transforms as _stage2_transforms  # noqa: F401  registers LoadPseudoMask
from mmdoei.models.backbones import resnet38d as _resnet38d  # noqa: F401  registers ResNet38d
from .datasets import COCOObjectDataset, PseudoMaskMixin, VOCPseudoMaskDataset
from .evaluation import VOC_SERVER_DIR, VOCServerWriter
from .heads import ASPPV2Head, LargeFOVHead
from .results import latest_test_metrics, latest_val_metrics
from .transforms import RandomRescale
from .tta import DEEPLAB_CRF, CRFSegTTAModel, tta_config_text

__all__ = [
    'LargeFOVHead', 'ASPPV2Head', 'CRFSegTTAModel', 'DEEPLAB_CRF', 'tta_config_text', 'VOCPseudoMaskDataset',
    'COCOObjectDataset', 'PseudoMaskMixin', 'RandomRescale', 'VOCServerWriter', 'VOC_SERVER_DIR',
    'latest_test_metrics', 'latest_val_metrics'
]
