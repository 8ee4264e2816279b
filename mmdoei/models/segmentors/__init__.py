"""Stage-3 test-time augmentation: mmseg's ``SegTTAModel`` with max merging and dense CRF."""
from .seg_tta import DEEPLAB_CRF, CRFSegTTAModel

__all__ = ['CRFSegTTAModel', 'DEEPLAB_CRF']
