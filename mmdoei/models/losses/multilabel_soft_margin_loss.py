"""The multilabel soft-margin loss of MCTformer, TS-CAM (multi-label) and TransCAM.

mmpretrain has no loss of this scale: its ``CrossEntropyLoss(use_sigmoid=True)``
and ``AsymmetricLoss`` sum the per-class binary terms of a sample, where the
authors' ``F.multilabel_soft_margin_loss`` averages them (a factor ``K`` apart,
which AdamW's epsilon and the gradient clipping see). This module is that loss
with mmpretrain's loss interface (``weight``, ``avg_factor``, ``reduction``,
``loss_weight``), so heads take it by config.
"""
from typing import Optional

import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS
from torch import Tensor, nn


def multilabel_soft_margin_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                reduction: str = 'mean', avg_factor: Optional[float] = None) -> Tensor:
    """``F.multilabel_soft_margin_loss`` per sample, then mmpretrain's weighting and reduction.

    Args:
        pred: Logits ``(N, K)``.
        target: Multi-hot or soft targets ``(N, K)`` in [0, 1].
        weight: Per-sample weights ``(N,)``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: Divides the sum instead of ``N`` (``'mean'`` only).

    Returns:
        The loss: ``(N,)`` for ``'none'``, a scalar otherwise.
    """
    if pred.shape != target.shape:
        raise ValueError(f'multilabel_soft_margin_loss: logits {tuple(pred.shape)} and targets '
                         f'{tuple(target.shape)} differ in shape')
    # The mean over the K classes of -[y log s(x) + (1 - y) log s(-x)], one value per sample.
    loss = F.multilabel_soft_margin_loss(pred, target.float(), reduction='none')
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@MODELS.register_module()
class MultiLabelSoftMarginLoss(nn.Module):
    """The multilabel soft-margin loss as an mmpretrain loss module.

    Args:
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'`` over the samples.
        loss_weight: Multiplies the loss.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f"MultiLabelSoftMarginLoss: reduction must be 'none', 'mean' or 'sum', "
                             f'got {reduction!r}')
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None) -> Tensor:
        """The weighted loss of logits ``(N, K)`` against targets ``(N, K)``."""
        reduction = reduction_override or self.reduction
        return self.loss_weight * multilabel_soft_margin_loss(
            cls_score, label, weight=weight, reduction=reduction, avg_factor=avg_factor)
