"""What every stage-1 backbone offers the classifiers: attention maps on request, DOEI."""
from typing import List, Optional

from torch import Tensor, nn

from mmdoei.doei import DOEIAttention, attach_doei


class AttentionMapsMixin:
    """For backbones listing their transformer blocks in ``transformer_blocks``.

    :meth:`setup_attention` swaps each block's attention for
    :class:`~mmdoei.doei.DOEIAttention` (same parameters) and attaches DOEI if
    configured; :meth:`set_need_attn` and :meth:`attention_maps` then give the
    classifiers every block's head-averaged attention for CAMs.
    """

    transformer_blocks: List[nn.Module]

    def setup_attention(self, doei: Optional[dict]) -> None:
        """Make attention maps available and attach DOEI (call at the end of ``__init__``)."""
        for block in self.transformer_blocks:
            block.attn = DOEIAttention.from_attention(block.attn)
        if doei is not None:
            attach_doei(self, doei)

    @property
    def doei(self):
        """The attached :class:`~mmdoei.doei.DOEIHandle` (from ``doei=`` or a DOEIHook), or None."""
        return getattr(self, '_doei_handle', None)

    def set_need_attn(self, flag: bool) -> None:
        """Make every block keep its attention map on the next forward passes.

        Blocks DOEI acts on keep theirs regardless.
        """
        doei_blocks = self.doei.num_layers if self.doei is not None else 0
        for i, block in enumerate(self.transformer_blocks):
            block.attn.need_attn = flag or i < doei_blocks

    def attention_maps(self) -> List[Tensor]:
        """Head-averaged attention ``(B, C + N, C + N)`` of every block, last forward pass."""
        maps = [block.attn.attn_map for block in self.transformer_blocks]
        if any(m is None for m in maps):
            raise RuntimeError('attention maps were not kept: call set_need_attn(True) before forward')
        return maps
