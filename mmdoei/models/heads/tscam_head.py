"""TS-CAM's head: a 3x3 conv on the patch tokens ("semantic maps"), GAP logits."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.models.losses import CrossEntropyLoss
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from .mct_head import TokenFeats

# Names the ``loss`` argument also takes, for the two settings of the paper.
LOSSES = {'multilabel_soft_margin': dict(type='MultiLabelSoftMarginLoss'),
          'cross_entropy': dict(type='CrossEntropyLoss')}


@MODELS.register_module()
class TSCAMHead(MultiLabelClsHead):
    """``Conv2d(D, K, 3, padding=1)`` on the patch grid; logits are its global average.

    The class token is not used for classification (TS-CAM's design: it only
    provides the class-agnostic attention of the CAM).

    Multi-label by default (VOC/COCO, the multilabel soft-margin loss, as
    MCTformer trains its conv head), with :class:`MultiLabelClsHead`'s targets
    and predictions. With a softmax cross-entropy loss (the authors' single-label
    CUB and ImageNet setting) targets are class indices and predictions softmax
    arg-maxes, as mmpretrain's ``ClsHead``.

    Args:
        num_classes: ``K``.
        in_channels: ``D``, the token width.
        num_class_tokens: Tokens before the patches (1).
        loss: Loss config, or one of the names ``'multilabel_soft_margin'``
            (default) and ``'cross_entropy'``.
        thr, topk: As in :class:`MultiLabelClsHead` (multi-label only).
    """

    def __init__(self, num_classes: int, in_channels: int, num_class_tokens: int = 1,
                 loss: Union[str, dict] = 'multilabel_soft_margin', thr: Optional[float] = None,
                 topk: Optional[int] = None, init_cfg: Optional[dict] = None) -> None:
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f'TSCAMHead: loss must be one of {sorted(LOSSES)} or a loss config, '
                                 f'got {loss!r}')
            loss = LOSSES[loss]
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.num_class_tokens = num_class_tokens
        self.single_label = isinstance(self.loss_module, CrossEntropyLoss) and not self.loss_module.use_sigmoid
        # PyTorch's default conv init: the authors' `head.apply(_init_weights)` touches
        # only Linear and LayerNorm layers.
        self.conv = nn.Conv2d(in_channels, num_classes, 3, 1, 1)

    def semantic_maps(self, tokens: Tensor, grid: Tuple[int, int]) -> Tensor:
        """The conv's class maps ``(B, K, h, w)`` from the patch tokens, before any ReLU."""
        B, _, D = tokens.shape
        patches = tokens[:, self.num_class_tokens:].reshape(B, grid[0], grid[1], D)
        return self.conv(patches.permute(0, 3, 1, 2).contiguous())

    def forward(self, feats: TokenFeats) -> Tuple[Tensor]:
        """``(logits,)``: a one-tuple, like the other heads' outputs."""
        # adaptive_avg_pool2d, as the authors: the same reduction order as theirs.
        return (F.adaptive_avg_pool2d(self.semantic_maps(*feats), 1).flatten(1), )

    def loss(self, feats: TokenFeats, data_samples: List[DataSample], **kwargs) -> Dict[str, Tensor]:
        """``loss_cls``."""
        logits = self(feats)[0]
        if not self.single_label:
            return {'loss_cls': self._get_loss(logits, data_samples, **kwargs)['loss']}
        target = torch.cat([s.gt_label for s in data_samples])
        return {'loss_cls': self.loss_module(logits, target, avg_factor=logits.size(0), **kwargs)}

    def predict(self, feats: TokenFeats, data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Sigmoid scores (softmax and its arg-max for the single-label loss)."""
        logits = self(feats)[0]
        if not self.single_label:
            return self._get_predictions(logits, data_samples)
        scores = logits.softmax(-1)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.size(0))]
        for sample, score in zip(data_samples, scores):
            sample.set_pred_score(score).set_pred_label(score.argmax(-1, keepdim=True))
        return data_samples
