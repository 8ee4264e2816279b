"""Necks mmpretrain lacks for backbones that return every token."""
from typing import Tuple

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ClassTokenNeck(BaseModule):
    """One token of each ``(B, T, D)`` output: ``(B, D)``; the class token by default.

    mmpretrain's ``TIMMBackbone`` resets a timm ViT's classifier with
    ``global_pool=''``, so it returns every token, and mmpretrain's necks pool
    feature maps, not tokens: this neck puts an mmpretrain head on top of any
    timm ViT.

    Args:
        index: Which token to keep (0: the class token).
    """

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        """``inputs``: the backbone's tuple of ``(B, T, D)`` token tensors."""
        for x in inputs:
            if x.dim() != 3:
                raise ValueError(f'ClassTokenNeck expects tokens (B, T, D), got shape {tuple(x.shape)}')
        return tuple(x[:, self.index] for x in inputs)
