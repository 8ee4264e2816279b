"""TS-CAM's head: a 3x3 conv on the patch tokens ("semantic maps"), GAP logits."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from .mct_head import multilabel_targets

LOSSES = ('multilabel_soft_margin', 'cross_entropy')


@MODELS.register_module()
class TSCAMHead(BaseModule):
    """``Conv2d(D, K, 3, padding=1)`` on the patch grid; logits are its global average.

    The class token is not used for classification (TS-CAM's design: it only
    provides the class-agnostic attention of the CAM).

    Args:
        num_classes: ``K``.
        in_channels: ``D``, the token width.
        num_class_tokens: Tokens before the patches (1).
        loss: ``'multilabel_soft_margin'`` (default; multi-label VOC/COCO, as
            MCTformer trains its conv head) or ``'cross_entropy'``, the authors'
            loss for their single-label CUB and ImageNet training.
        loss_weight: Multiplies the loss.
        thr: Score threshold of ``predict``'s labels.
    """

    def __init__(self, num_classes: int, in_channels: int, num_class_tokens: int = 1,
                 loss: str = 'multilabel_soft_margin', loss_weight: float = 1.0, thr: float = 0.5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if loss not in LOSSES:
            raise ValueError(f'TSCAMHead: loss must be one of {LOSSES}, got {loss!r}')
        self.num_classes = num_classes
        self.num_class_tokens = num_class_tokens
        self.loss_type = loss
        self.loss_weight = loss_weight
        self.thr = thr
        # PyTorch's default conv init: the authors' `head.apply(_init_weights)` touches
        # only Linear and LayerNorm layers.
        self.conv = nn.Conv2d(in_channels, num_classes, 3, 1, 1)

    def semantic_maps(self, tokens: Tensor, grid: Tuple[int, int]) -> Tensor:
        """The conv's class maps ``(B, K, h, w)`` from the patch tokens, before any ReLU."""
        B, _, D = tokens.shape
        patches = tokens[:, self.num_class_tokens:].reshape(B, grid[0], grid[1], D)
        return self.conv(patches.permute(0, 3, 1, 2).contiguous())

    def forward(self, tokens: Tensor, grid: Tuple[int, int]) -> Tuple[Tensor]:
        """``(logits,)``: a one-tuple, like the other heads' outputs."""
        # adaptive_avg_pool2d, as the authors: the same reduction order as theirs.
        return (F.adaptive_avg_pool2d(self.semantic_maps(tokens, grid), 1).flatten(1), )

    def loss(self, tokens: Tensor, grid: Tuple[int, int],
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """``loss_cls``."""
        logits = self(tokens, grid)[0]
        if self.loss_type == 'cross_entropy':
            target = torch.cat([s.gt_label for s in data_samples]).to(logits.device)
            loss = F.cross_entropy(logits, target)
        else:
            target = multilabel_targets(data_samples, self.num_classes).to(logits.device)
            loss = F.multilabel_soft_margin_loss(logits, target)
        return {'loss_cls': self.loss_weight * loss}

    def predict(self, tokens: Tensor, grid: Tuple[int, int],
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Sigmoid scores (softmax for the single-label ``cross_entropy`` variant)."""
        logits = self(tokens, grid)[0]
        scores = logits.softmax(-1) if self.loss_type == 'cross_entropy' else torch.sigmoid(logits)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.size(0))]
        for sample, score in zip(data_samples, scores):
            if self.loss_type == 'cross_entropy':
                sample.set_pred_score(score).set_pred_label(score.argmax(-1, keepdim=True))
            else:
                sample.set_pred_score(score).set_pred_label(torch.where(score >= self.thr)[0])
        return data_samples
