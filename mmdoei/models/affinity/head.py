"""AffinityNet's feature-fusion head (PSA, ``network/resnet38_aff.py``)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdoei.utils.registry import register_in


@register_in('MODELS', 'mmpretrain', 'mmseg')
class AffinityHead(BaseModule):
    """Fuse multi-level backbone features into AffinityNet's feature map.

    Each input level gets a 1x1 conv and an ELU, the results are concatenated
    and go through one more 1x1 conv and ELU: PSA's ``f8_3``, ``f8_4``,
    ``f8_5`` (512, 1024, 4096 -> 64, 128, 256 channels) and ``f9``
    (448 -> 448). All levels must have the same spatial size (stride 8).
    Convs have no bias and are initialised as PSA does: Kaiming-normal for the
    per-level convs, Xavier-uniform with gain 4 for the fusion conv.

    Args:
        in_channels: Channels of the backbone outputs, in order.
        channels: Output channels of the per-level convs.
        out_channels: Channels of the fused map (PSA: 448 = 64 + 128 + 256).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 4096),
                 channels: Sequence[int] = (64, 128, 256),
                 out_channels: int = 448,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(channels):
            raise ValueError(f'in_channels {tuple(in_channels)} and channels {tuple(channels)} differ in length')
        self.lateral_convs = nn.ModuleList(nn.Conv2d(i, c, 1, bias=False) for i, c in zip(in_channels, channels))
        self.fuse_conv = nn.Conv2d(sum(channels), out_channels, 1, bias=False)
        for conv in self.lateral_convs:
            nn.init.kaiming_normal_(conv.weight)
        nn.init.xavier_uniform_(self.fuse_conv.weight, gain=4)

    def forward(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """``(B, out_channels, h, w)`` from the backbone's tuple of features."""
        if len(feats) != len(self.lateral_convs):
            raise ValueError(f'expected {len(self.lateral_convs)} feature levels, got {len(feats)}')
        x = torch.cat([F.elu(conv(f)) for conv, f in zip(self.lateral_convs, feats)], dim=1)
        return F.elu(self.fuse_conv(x))
