"""``DOEIAttention``: mmpretrain's multi-head attention that can hand out its probabilities.

mmpretrain's ``MultiheadAttention`` always calls torch's fused
``scaled_dot_product_attention`` and never materialises the attention
probabilities, which both DOEI (its scores) and every attention-based CAM need.
This subclass keeps the same parameters and state-dict keys and computes the
attention explicitly only when asked to (``need_attn``), so blocks whose maps no
one reads keep the fused kernel.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from mmpretrain.models.utils import MultiheadAttention
from torch import Tensor


@MODELS.register_module()
class DOEIAttention(MultiheadAttention):
    """Drop-in :class:`mmpretrain.models.utils.MultiheadAttention` exposing ``attn_map``.

    Same constructor and parameters as the parent. After a forward pass with
    ``need_attn = True``, ``attn_map`` holds the softmax attention averaged over
    heads, ``(B, T, T)`` (rows are queries), still attached to the graph so
    gradients can flow through DOEI's scores; otherwise it is ``None`` and the
    output comes from the fused kernel.

    Attention dropout is applied after ``attn_map`` is taken: the map describes
    the attention, not one dropout sample of it.
    """

    def __init__(self, *args, need_attn: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.need_attn = need_attn
        self.attn_map: Optional[Tensor] = None

    @classmethod
    def from_attention(cls, attn: MultiheadAttention) -> 'DOEIAttention':
        """Wrap an existing attention layer, sharing (not copying) its parameters.

        Sharing keeps optimiser state, DDP buckets and state-dict keys valid when a
        hook swaps the layer into a model that has already been built.
        """
        if isinstance(attn, cls):
            return attn
        new = cls(
            embed_dims=attn.embed_dims,
            num_heads=attn.num_heads,
            input_dims=attn.input_dims,
            attn_drop=attn.attn_drop,
            v_shortcut=attn.v_shortcut,
            qkv_bias=attn.qkv.bias is not None,
            proj_bias=attn.proj.bias is not None,
            init_cfg=attn.init_cfg)
        for name in ('qkv', 'proj', 'proj_drop', 'out_drop', 'gamma1'):
            setattr(new, name, getattr(attn, name))
        # Keep the parent's behaviour for qk_scale (it uses head_dims ** -0.5 either way).
        new.scaled_dot_product_attention = attn.scaled_dot_product_attention
        new._is_init = getattr(attn, '_is_init', False)
        new.train(attn.training)
        return new

    def forward(self, x: Tensor) -> Tensor:
        """Same result as the parent; also fills ``attn_map`` when ``need_attn``."""
        if not self.need_attn:
            self.attn_map = None
            return super().forward(x)
        B, T, _ = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.head_dims**-0.5) @ k.transpose(-2, -1)
        if torch.is_grad_enabled():
            attn = attn.softmax(dim=-1)
        else:  # inference (CAMs): in place, the same numbers without a second (B, heads, T, T) buffer
            torch.ops.aten._softmax.out(attn, -1, False, out=attn)
        self.attn_map = attn.mean(dim=1)
        attn = F.dropout(attn, self.attn_drop if self.training else 0.)
        x = (attn @ v).transpose(1, 2).reshape(B, T, self.embed_dims)
        x = self.out_drop(self.gamma1(self.proj_drop(self.proj(x))))
        if self.v_shortcut:
            x = v.squeeze(1) + x
        return x
