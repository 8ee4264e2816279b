"""Decode heads mmseg lacks: DeepLab-v1 LargeFOV and DeepLab-v2 ASPP.

Both are registered in mmseg's ``MODELS`` and plug into its
``EncoderDecoder`` like any other ``BaseDecodeHead`` (loss, resizing of the
logits, ``ignore_index`` and inference all stay mmseg's).
"""
from typing import List, Sequence

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class LargeFOVHead(BaseDecodeHead):
    """DeepLab-v1 "LargeFOV" head as the MCTformer / PSA line trains it on ResNet-38d.

    One dilated 3x3 conv (``in_channels -> channels``, dilation 12, with bias)
    and ReLU, then the classifier. In MCTformer's ``seg/network/resnet38_seg.py``
    (the segmentation network of the DOEI paper's baselines) the classifier is
    itself a 3x3 conv with dilation 12 (``fc8_seg_conv2``), not DeepLab-v1's
    original 1x1; that is the default here, and ``classifier_kernel_size=1``
    gives the original. Both convs are Xavier-uniform initialised, as there
    (biases start at 0 instead of PyTorch's small uniform values).

    The head adds no dropout by default (``dropout_ratio=0``): the backbone's
    last two blocks carry it (0.3 and 0.5), as in the authors' network.

    Args:
        dilation: Dilation (and padding) of the 3x3 conv (12: "large field of view").
        classifier_kernel_size: 3 (MCTformer) or 1 (DeepLab-v1 LargeFOV).
        classifier_dilation: Dilation of a 3x3 classifier (MCTformer: 12).
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``,
            ``channels``, ``num_classes``, ``loss_decode`` ...).
    """

    def __init__(self,
                 dilation: int = 12,
                 classifier_kernel_size: int = 3,
                 classifier_dilation: int = 12,
                 **kwargs) -> None:
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('init_cfg', dict(type='Xavier', distribution='uniform', layer='Conv2d'))
        super().__init__(**kwargs)
        if classifier_kernel_size not in (1, 3):
            raise ValueError(f'classifier_kernel_size must be 1 or 3, got {classifier_kernel_size}')
        self.fc = ConvModule(
            self.in_channels,
            self.channels,
            3,
            padding=dilation,
            dilation=dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        # Replaces BaseDecodeHead's 1x1 classifier so that cls_seg (dropout,
        # classifier) keeps working unchanged.
        cls_dilation = classifier_dilation if classifier_kernel_size == 3 else 1
        self.conv_seg = nn.Conv2d(
            self.channels,
            self.out_channels,
            classifier_kernel_size,
            padding=cls_dilation * (classifier_kernel_size // 2),
            dilation=cls_dilation)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits at the input feature's resolution."""
        return self.cls_seg(self.fc(self._transform_inputs(inputs)))


@MODELS.register_module()
class ASPPV2Head(BaseDecodeHead):
    """DeepLab-v2 ASPP: parallel dilated 3x3 classifiers whose logits are summed.

    Chen et al. (TPAMI 2018), ``ASPP-L``: four branches with dilations
    6, 12, 18, 24, each a 3x3 conv from the backbone's features straight to
    the class logits, initialised N(0, 0.01) with zero bias. This is the
    "DeepLab-v2 ResNet-101" of the WSSS papers the DOEI paper compares with
    (SEAM, AdvCAM, ReCAM, SIPE, CLIMS ...). mmseg has ASPP only in its v3
    form (``ASPPHead``: image pooling, BN, a fusing conv).

    ``channels`` is unused (the branches classify directly); pass any value.

    Args:
        dilations: One branch per dilation.
        **kwargs: :class:`BaseDecodeHead` arguments.
    """

    def __init__(self, dilations: Sequence[int] = (6, 12, 18, 24), **kwargs) -> None:
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('init_cfg', dict(type='Normal', std=0.01, bias=0, layer='Conv2d'))
        super().__init__(**kwargs)
        if not dilations:
            raise ValueError('ASPPV2Head needs at least one dilation')
        self.conv_seg = None  # the branches below are the classifier
        self.aspp: nn.ModuleList = nn.ModuleList(
            nn.Conv2d(self.in_channels, self.out_channels, 3, padding=d, dilation=d) for d in dilations)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Sum of the branches' logits."""
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        branches: List[Tensor] = [conv(x) for conv in self.aspp]
        return torch.stack(branches).sum(0)


__all__ = ['LargeFOVHead', 'ASPPV2Head']
