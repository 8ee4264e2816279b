"""MCTformer's heads: class-token logits (V1) plus the 3x3 conv patch head (V2)."""
from typing import Dict, List, Optional, Sequence, Tuple

from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

# ``(tokens (B, C + N, D), patch grid (h, w))``: what WSSSClassifier.extract_feat gives.
TokenFeats = Tuple[Tensor, Tuple[int, int]]


@MODELS.register_module()
class MCTHead(MultiLabelClsHead):
    """Logits from ``C`` class tokens, and optionally from a conv on patch tokens.

    - class-token logits: each class token's mean over channels (no final norm),
    - V2 (``with_patch_head``): ``Conv2d(D, C, 3, padding=1)`` on the patch grid,
      global-average-pooled before any ReLU, a second loss term.

    Target packing, the loss module and the predictions are mmpretrain's
    :class:`MultiLabelClsHead`'s; the predictions are the class-token scores
    alone (the authors evaluate those).

    Args:
        num_classes: ``C``.
        in_channels: ``D``, the token width.
        with_patch_head: Add the V2 conv head and its loss term.
        loss: Loss config, the authors' multilabel soft-margin loss by default.
        loss_weights: Multiply the class-token and the patch term.
        thr, topk: As in :class:`MultiLabelClsHead` (``thr`` 0.5 by default).
    """

    def __init__(self, num_classes: int, in_channels: int, with_patch_head: bool = False,
                 loss: dict = dict(type='MultiLabelSoftMarginLoss'),
                 loss_weights: Sequence[float] = (1.0, 1.0), thr: Optional[float] = None,
                 topk: Optional[int] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.loss_weights = tuple(loss_weights)
        # PyTorch's default conv init, as the authors leave it.
        self.conv = nn.Conv2d(in_channels, num_classes, 3, 1, 1) if with_patch_head else None

    def patch_maps(self, tokens: Tensor, grid: Tuple[int, int]) -> Tensor:
        """The conv head's class maps ``(B, C, h, w)`` from the patch tokens (pre-ReLU)."""
        C = self.num_classes
        B, _, D = tokens.shape
        patches = tokens[:, C:].reshape(B, grid[0], grid[1], D).permute(0, 3, 1, 2).contiguous()
        return self.conv(patches)

    def forward(self, feats: TokenFeats) -> Tuple[Tensor, ...]:
        """``(cls_logits,)`` or ``(cls_logits, patch_logits)``."""
        tokens, grid = feats
        cls_logits = tokens[:, :self.num_classes].mean(-1)
        if self.conv is None:
            return (cls_logits, )
        return cls_logits, self.patch_maps(tokens, grid).mean((2, 3))

    def loss(self, feats: TokenFeats, data_samples: List[DataSample], **kwargs) -> Dict[str, Tensor]:
        """``loss_cls`` (and ``loss_patch`` for V2), each term weighted by ``loss_weights``."""
        return {name: weight * self._get_loss(logits, data_samples, **kwargs)['loss']
                for name, weight, logits in zip(('loss_cls', 'loss_patch'), self.loss_weights, self(feats))}

    def predict(self, feats: TokenFeats, data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Sigmoid of the class-token logits."""
        return self._get_predictions(self(feats)[0], data_samples)
