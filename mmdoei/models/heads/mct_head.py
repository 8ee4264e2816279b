"""MCTformer's heads: class-token logits (V1) plus the 3x3 conv patch head (V2)."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample, label_to_onehot
from torch import Tensor, nn


def multilabel_targets(data_samples: List[DataSample], num_classes: int) -> Tensor:
    """Multi-hot targets ``(B, K)`` from ``gt_score`` or ``gt_label`` (mmpretrain's rule)."""
    if 'gt_score' in data_samples[0]:
        return torch.stack([s.gt_score.float() for s in data_samples])
    return torch.stack([label_to_onehot(s.gt_label, num_classes) for s in data_samples]).float()


@MODELS.register_module()
class MCTHead(BaseModule):
    """Logits from ``C`` class tokens, and optionally from a conv on patch tokens.

    - class-token logits: each class token's mean over channels (no final norm),
    - V2 (``with_patch_head``): ``Conv2d(D, C, 3, padding=1)`` on the patch grid,
      global-average-pooled before any ReLU, a second multilabel loss.

    Losses are ``multilabel_soft_margin_loss`` (the authors'), weighted by
    ``loss_weights`` (class, patch).
    """

    def __init__(self, num_classes: int, in_channels: int, with_patch_head: bool = False,
                 loss_weights: Tuple[float, float] = (1.0, 1.0), thr: float = 0.5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.loss_weights = tuple(loss_weights)
        self.thr = thr
        # PyTorch's default conv init, as the authors leave it.
        self.conv = nn.Conv2d(in_channels, num_classes, 3, 1, 1) if with_patch_head else None

    def patch_maps(self, tokens: Tensor, grid: Tuple[int, int]) -> Tensor:
        """The conv head's class maps ``(B, C, h, w)`` from the patch tokens (pre-ReLU)."""
        C = self.num_classes
        B, _, D = tokens.shape
        patches = tokens[:, C:].reshape(B, grid[0], grid[1], D).permute(0, 3, 1, 2).contiguous()
        return self.conv(patches)

    def forward(self, tokens: Tensor, grid: Tuple[int, int]) -> Tuple[Tensor, ...]:
        """``(cls_logits,)`` or ``(cls_logits, patch_logits)``."""
        cls_logits = tokens[:, :self.num_classes].mean(-1)
        if self.conv is None:
            return (cls_logits, )
        return cls_logits, self.patch_maps(tokens, grid).mean((2, 3))

    def loss(self, tokens: Tensor, grid: Tuple[int, int],
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """``loss_cls`` (and ``loss_patch`` for V2)."""
        target = multilabel_targets(data_samples, self.num_classes).to(tokens.device)
        logits = self(tokens, grid)
        losses = {'loss_cls': self.loss_weights[0] * F.multilabel_soft_margin_loss(logits[0], target)}
        if len(logits) > 1:
            losses['loss_patch'] = self.loss_weights[1] * F.multilabel_soft_margin_loss(logits[1], target)
        return losses

    def predict(self, tokens: Tensor, grid: Tuple[int, int],
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Sigmoid of the class-token logits (the authors evaluate those alone)."""
        scores = torch.sigmoid(self(tokens, grid)[0])
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.size(0))]
        for sample, score in zip(data_samples, scores):
            sample.set_pred_score(score).set_pred_label(torch.where(score >= self.thr)[0])
        return data_samples
