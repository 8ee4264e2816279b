"""``DOEIAttention``: mmpretrain's multi-head attention that can hand out its probabilities.

mmpretrain's ``MultiheadAttention`` always calls torch's fused
``scaled_dot_product_attention`` and never materialises the attention
probabilities, which both DOEI (its scores) and every attention-based CAM need.
This subclass keeps the same parameters and state-dict keys and computes the
attention explicitly only when asked to (``need_attn``), so blocks whose maps no
one reads keep the fused kernel.
"""
from typing import Optional, Tuple

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
        if not (torch.is_grad_enabled() or self.training):  # inference (CAMs): same numbers, less memory
            x, self.attn_map = _attention_by_head(q * self.head_dims**-0.5, k, v)
            x = x.reshape(B, T, self.embed_dims)
            x = self.out_drop(self.gamma1(self.proj_drop(self.proj(x))))
            return v.squeeze(1) + x if self.v_shortcut else x
        attn = ((q * self.head_dims**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        self.attn_map = attn.mean(dim=1)
        attn = F.dropout(attn, self.attn_drop if self.training else 0.)
        x = (attn @ v).transpose(1, 2).reshape(B, T, self.embed_dims)
        x = self.out_drop(self.gamma1(self.proj_drop(self.proj(x))))
        if self.v_shortcut:
            x = v.squeeze(1) + x
        return x


def _attention_by_head(q: Tensor, k: Tensor, v: Tensor) -> Tuple[Tensor, Tensor]:
    """``softmax(q k^T) v`` as ``(B, T, heads, d)`` and the head-mean of the softmax
    ``(B, T, T)``, one head at a time, the softmax in place (no gradients).

    ``q`` (already scaled), ``k``, ``v``: ``(B, heads, T, d)``. The same numbers
    as the all-heads expression to float rounding (the mean is the sum over the
    heads divided once), but one ``(B, T, T)`` buffer is live instead of two
    ``(B, heads, T, T)`` ones: at 1,630 tokens (a 750 x 562 image and its flip)
    those are 2 x 127 MB that every block allocated afresh (first-touch page
    faults). The output is written in the token-major layout the projection
    reads, so it needs no transposing copy.
    """
    B, H, T, d = q.shape
    kt = k.transpose(-2, -1)
    out = q.new_empty(B, T, H, v.shape[-1])
    total = None
    for h in range(H):
        s = q[:, h] @ kt[:, h]
        torch.ops.aten._softmax.out(s, -1, False, out=s)
        torch.matmul(s, v[:, h], out=out[:, :, h])
        total = s if total is None else total.add_(s)  # the first head's buffer becomes the sum
    return out, total.div_(H)
