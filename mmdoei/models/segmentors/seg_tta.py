"""Multi-scale + flip test-time augmentation with dense-CRF post-processing.

:class:`CRFSegTTAModel` is mmseg's ``SegTTAModel`` with two config keys more:
how the augmented predictions are merged (``merge_mode``) and a dense CRF on the
merged class probabilities (``crf``). Any mmseg config can use it: set

    tta_model = dict(type='CRFSegTTAModel', merge_mode='max', crf=dict())
    tta_pipeline = [...]   # mmseg's TestTimeAug, e.g. 5 scales x 2 flips

and test with ``tools/test.py CONFIG CKPT --tta`` (mmseg's switch; see
:func:`mmdoei.apis.config_surgery.apply_tta`).
"""
import os.path as osp
from typing import List, Optional, Union

import mmcv
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors.seg_tta import SegTTAModel
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

from mmdoei.utils.crf import dense_crf

#: The dense CRF of MCTformer's segmentation test (``seg/tool/imutils.py:
#: crf_inference_inf``), which the DOEI paper's DeepLab results use: 10
#: mean-field iterations, Gaussian kernel sxy 4 / compat 3, bilateral kernel
#: sxy 83 / srgb 5 / compat 3, unary ``-log(max(p, 1e-5))`` of the merged
#: class probabilities.
DEEPLAB_CRF = dict(
    iterations=10, gaussian_sxy=4, gaussian_compat=3, bilateral_sxy=83, bilateral_srgb=5, bilateral_compat=3)

MERGE_MODES = ('mean', 'max')


@MODELS.register_module()
class CRFSegTTAModel(SegTTAModel):
    """mmseg's ``SegTTAModel`` with a choice of merge and a dense CRF.

    Each augmented prediction arrives at the original image size (the
    segmentor undoes resize and flip), as softmax probabilities here:

    * ``merge_mode='mean'`` averages them (mmseg's ``SegTTAModel``);
    * ``merge_mode='max'`` takes the per-pixel, per-class maximum (MCTformer's
      ``seg/infer_seg.py``, the DOEI paper's baseline code).

    With ``crf`` a dict, the merged probabilities and the original image
    (read from ``img_path``) go through a fully connected CRF, and the
    prediction is the arg-max of its marginals. Its settings default to the
    paper's, :data:`DEEPLAB_CRF` (``crf=dict()``); given keys override them.
    ``crf=None`` (the default, so that the class is a drop-in for
    ``SegTTAModel``) switches it off.

    Outputs carry ``pred_sem_seg`` ``(1, H, W)`` and ``seg_logits``: the merged
    probabilities, or the CRF marginals, ``(C, H, W)``.

    Args:
        module: The segmentor (config or module).
        merge_mode: ``'mean'`` or ``'max'``. (Not ``merge``: a config key of
            that name would hide ``ConfigDict.merge``.)
        crf: CRF settings (keys of :data:`DEEPLAB_CRF` and ``scale_factor``,
            see :func:`~mmdoei.utils.crf.dense_crf`) or ``None``.
        **kwargs: :class:`mmengine.model.BaseTTAModel` arguments.
    """

    def __init__(self, module: Union[dict, torch.nn.Module], merge_mode: str = 'mean',
                 crf: Optional[dict] = None, **kwargs) -> None:
        super().__init__(module=module, **kwargs)
        if merge_mode not in MERGE_MODES:
            raise ValueError(f'merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}')
        unknown = set(crf or {}) - set(DEEPLAB_CRF) - {'scale_factor'}
        if unknown:
            raise ValueError(f'unknown CRF settings {sorted(unknown)}; known: {sorted(DEEPLAB_CRF)} and scale_factor')
        self.merge_mode = merge_mode
        self.crf = None if crf is None else {**DEEPLAB_CRF, **crf}

    def merge_preds(self, data_samples_list: List[List[SegDataSample]]) -> List[SegDataSample]:
        """Merge each image's augmented predictions (and apply the CRF)."""
        if self.module.out_channels == 1:
            # Binary heads predict one sigmoid map; CRF needs per-class scores.
            if self.crf is not None or self.merge_mode != 'mean':
                raise ValueError('CRFSegTTAModel: merge_mode="max" and crf need a head with one output per class '
                                 '(out_channels > 1)')
            return super().merge_preds(data_samples_list)
        return [self._merge_one(samples) for samples in data_samples_list]

    def _merge_one(self, samples: List[SegDataSample]) -> SegDataSample:
        # A running merge: stacking 10 full-size maps of 81 classes would take ~0.6 GB.
        probs = samples[0].seg_logits.data.softmax(dim=0)
        for s in samples[1:]:
            p = s.seg_logits.data.softmax(dim=0)
            probs = probs + p if self.merge_mode == 'mean' else torch.maximum(probs, p)
        if self.merge_mode == 'mean':
            probs = probs / len(samples)
        first = samples[0]
        if self.crf is not None:
            probs = torch.from_numpy(self._crf(probs, first.metainfo)).to(probs)
        out = SegDataSample(metainfo=first.metainfo)
        out.seg_logits = PixelData(data=probs)
        out.pred_sem_seg = PixelData(data=probs.argmax(dim=0, keepdim=True))
        if 'gt_sem_seg' in first:
            out.gt_sem_seg = first.gt_sem_seg
        return out

    def _crf(self, probs: Tensor, meta: dict) -> np.ndarray:
        path = meta.get('img_path')
        if not path or not osp.isfile(path):
            raise ValueError(f'dense CRF needs the original image, but the sample\'s img_path is {path!r}')
        img = mmcv.imread(path)  # BGR; the colour kernel weighs channels alike, so order is irrelevant
        if img.shape[:2] != tuple(probs.shape[1:]):
            raise ValueError(f'{path}: image is {img.shape[0]}x{img.shape[1]} but the prediction is '
                             f'{probs.shape[1]}x{probs.shape[2]} (ori_shape {meta.get("ori_shape")})')
        return dense_crf(img, probs.cpu().numpy(), **self.crf)


__all__ = ['CRFSegTTAModel', 'DEEPLAB_CRF']
