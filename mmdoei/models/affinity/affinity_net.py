"""AffinityNet (Ahn and Kwak, CVPR 2018) as an mmengine model."""
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement, PixelData
from mmpretrain.registry import MODELS
from torch import Tensor

from mmdoei.utils.registry import register_in
from .functional import affinity_loss, pair_affinities
from .random_walk import random_walk_labels

#: PSA's inference settings (``infer_aff.py``). MCTformer's copy uses
#: ``logt=6`` and a constant background ``bg_threshold=0.39`` instead of ``alpha``.
DEFAULT_TEST_CFG = dict(beta=8, logt=8, alpha=16, bg_threshold=None, dense=False)


def _field(sample: BaseDataElement, name: str):
    value = sample.get(name)
    if value is None:
        raise KeyError(f'data sample has no {name!r}; pack it with '
                       f"PackInputs(algorithm_keys=[..., {name!r}])")
    return value


@register_in('MODELS', 'mmpretrain', 'mmseg')
class AffinityNet(BaseModel):
    """Predicts pixel affinities and refines CAMs by a random walk.

    ``mode='loss'`` needs ``gt_aff_label`` in every data sample: the label map
    at the feature resolution (0 background, ``c + 1`` class ``c``, 255
    unknown; see :class:`~mmdoei.datasets.transforms.PoolAffinityLabel`).
    ``mode='predict'`` needs ``cams`` ``(K, H, W)`` and ``cam_keys`` ``(K,)``
    (see :class:`~mmdoei.datasets.transforms.LoadCAMFromFile`) and sets
    ``pred_sem_seg`` (labels 0 / ``c + 1``, the size of the CAMs).
    ``mode='tensor'`` returns the affinities ``(B, num_offsets, num_from)``.

    Args:
        backbone: Backbone config (multi-level features, e.g. ResNet-38d with
            ``out_indices=(2, 3, 5)``).
        head: :class:`AffinityHead` config.
        radius: Radius of the pixel pairs (PSA: 5), in feature pixels.
        stride: Output stride of the backbone (8); CAMs are pooled by it.
        test_cfg: Random-walk settings, see :data:`DEFAULT_TEST_CFG`:
            ``beta`` (power of the affinities), ``logt`` (``2 ** logt`` walk
            steps), ``alpha`` (background ``(1 - max cam) ** alpha``) or
            ``bg_threshold`` (constant background, overrides ``alpha``),
            ``dense`` (PSA's dense squaring, for checks only).
        data_preprocessor: e.g. ``ClsDataPreprocessor`` with ImageNet
            mean/std, ``to_rgb=True``, ``pad_size_divisor=8``: inputs are
            padded right/bottom with zeros after normalisation, as PSA does.
            Test with batch size 1 to reproduce PSA exactly (a batch pads
            every image to the largest).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 radius: int = 5,
                 stride: int = 8,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, torch.nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.radius = int(radius)
        self.stride = int(stride)
        unknown = set(test_cfg or {}) - set(DEFAULT_TEST_CFG)
        if unknown:
            raise ValueError(f'unknown test_cfg keys {sorted(unknown)}; known: {sorted(DEFAULT_TEST_CFG)}')
        self.test_cfg = dict(DEFAULT_TEST_CFG, **(test_cfg or {}))

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """AffinityNet's fused features ``(B, C, H / stride, W / stride)``."""
        return self.head(self.backbone(inputs))

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> Union[Tensor, Dict[str, Tensor], List[BaseDataElement]]:
        """``'tensor'``, ``'loss'`` or ``'predict'``, as mmengine models do."""
        if mode == 'tensor':
            return pair_affinities(self.extract_feat(inputs), self.radius)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f'mode must be "tensor", "loss" or "predict", got {mode!r}')

    def loss(self, inputs: Tensor, data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        """PSA's balanced affinity loss (see :func:`affinity_loss`)."""
        aff = self.forward(inputs, mode='tensor')
        labels = torch.stack([torch.as_tensor(np.asarray(_field(s, 'gt_aff_label'))) for s in data_samples])
        labels = labels.to(device=aff.device, dtype=torch.long)
        feat_hw = (inputs.shape[-2] // self.stride, inputs.shape[-1] // self.stride)
        if tuple(labels.shape[-2:]) != feat_hw:
            raise ValueError(f'gt_aff_label is {tuple(labels.shape[-2:])} but the features are {feat_hw}: '
                             'pool the labels by the network stride (PoolAffinityLabel) after cropping')
        return affinity_loss(aff, labels, self.radius)

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Random-walk pseudo masks from the samples' CAMs."""
        feats = self.extract_feat(inputs)
        aff = pair_affinities(feats, self.radius).float()
        cfg = self.test_cfg
        for a, sample in zip(aff, data_samples):
            cams = torch.as_tensor(np.asarray(_field(sample, 'cams')), dtype=torch.float32)
            keys = np.asarray(_field(sample, 'cam_keys')).reshape(-1).tolist()
            if cams.shape[-2] > inputs.shape[-2] or cams.shape[-1] > inputs.shape[-1]:
                raise ValueError(f'CAMs {tuple(cams.shape[-2:])} are larger than the input '
                                 f'{tuple(inputs.shape[-2:])}: the image must not be resized at test time')
            labels = random_walk_labels(a, feats.shape[-2:], cams, keys, radius=self.radius, beta=cfg['beta'],
                                        logt=cfg['logt'], alpha=cfg['alpha'], bg_threshold=cfg['bg_threshold'],
                                        stride=self.stride, dense=cfg['dense'])
            sample.set_field(PixelData(data=labels[None].cpu()), 'pred_sem_seg')
        return data_samples
