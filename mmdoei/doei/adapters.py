"""The attention families DOEI can read: one adapter per family, found by class.

DOEI reads, in each block it acts on, that block's softmax attention averaged
over heads (``A_i`` of docs/method.md), with everything the block adds before the
softmax (relative position bias, RoPE) inside it. Each upstream attention class
computes it differently, and the fused ones never materialise it. So each family
gets an adapter: a subclass of the upstream class, registered in mmengine's root
``MODELS`` beside :class:`~mmdoei.doei.DOEIAttention`, that shares the upstream
layer's parameters (same state-dict keys) and

- with ``need_attn = False`` runs the upstream ``forward`` untouched (the fused
  kernel where the upstream has one), ``attn_map`` is None;
- with ``need_attn = True`` keeps ``attn_map``, ``(B, T, T)``, rows are queries,
  still attached to the graph. Attention dropout is applied after the map is
  taken, as in :class:`DOEIAttention`: the map is the attention, not one
  dropout sample of it.

How each family's map is read (the table of :data:`FAMILIES`):

- mmpretrain ``MultiheadAttention`` (ViT, DeiT, DeiT-3, Conformer): always fused
  upstream; :class:`DOEIAttention` computes the softmax explicitly.
- mmcv ``MultiheadAttention`` over ``nn.MultiheadAttention`` (mmseg's
  ``VisionTransformer``: SETR, Segmenter, UPerNet-ViT): torch returns its
  weights only *after* dropout, so :class:`DOEIMMCVAttention` computes the
  self-attention from ``in_proj_weight`` itself.
- timm ``Attention`` (timm ViT/DeiT and their hundreds of checkpoints, also
  through mmpretrain's ``TIMMBackbone``), mmpretrain ``BEiTAttention``
  (``BEiTViT``, relative position bias, shared or per layer) and mmpretrain
  ``AttentionWithRoPE`` (``ViTEVA02``, RoPE): each upstream forward passes the
  softmax probabilities, biases and rotations included, through its
  ``attn_drop``; the adapter swaps that ``nn.Dropout`` for
  :class:`ProbsDropout`, the same dropout that also keeps its input, so the map
  is the upstream's own tensor, not a re-implementation of it. timm's fused
  kernel is switched off only while a map is asked for.

A subclass of an upstream class counts as that family only if it keeps the
upstream ``forward``; anything else is refused by :func:`attention_family`'s
callers with the list of supported families.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import MultiheadAttention as MMCVMultiheadAttention
from mmengine.registry import MODELS
from mmpretrain.models.backbones.beit import BEiTAttention
from mmpretrain.models.backbones.vit_eva02 import AttentionWithRoPE
from mmpretrain.models.utils import MultiheadAttention as MMPretrainMultiheadAttention
from torch import Tensor, nn

from .attention import DOEIAttention

try:  # timm >= 1.0.16 keeps Attention in timm.layers; older ones in the ViT file
    from timm.layers.attention import Attention as TimmAttention
except ImportError:  # pragma: no cover - depends on the installed timm
    from timm.models.vision_transformer import Attention as TimmAttention


class ProbsDropout(nn.Dropout):
    """``nn.Dropout`` that also keeps its input while ``keep`` is set.

    The tap-read families apply their ``attn_drop`` to the softmax
    probabilities ``(B, heads, T, T)``, so its input is the attention map.
    No parameters: state dicts are unchanged.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__(p, inplace)
        self.keep = False
        self.probs: Optional[Tensor] = None

    @classmethod
    def from_dropout(cls, drop: nn.Module) -> 'ProbsDropout':
        """The same dropout (rate, in-place flag, mode) as ``drop``."""
        if isinstance(drop, cls):
            return drop
        if not isinstance(drop, nn.Dropout):
            raise TypeError(f'DOEI: expected the attention dropout to be an nn.Dropout, got '
                            f'{type(drop).__name__}; this version of the attention is not supported')
        new = cls(drop.p, drop.inplace)
        new.train(drop.training)
        return new

    def forward(self, x: Tensor) -> Tensor:
        if self.keep:
            self.probs = x
            # An in-place dropout would overwrite the map just kept.
            return F.dropout(x, self.p, self.training, inplace=False)
        return super().forward(x)


def _upstream(cls: type) -> type:
    """The upstream attention class an adapter class extends."""
    return next(c for c in cls.__mro__[1:] if not issubclass(c, AttentionAdapter))


class AttentionAdapter:
    """What every adapter adds to its upstream class: ``need_attn``, ``attn_map``,
    and :meth:`from_attention`, which wraps a built layer sharing its weights."""

    need_attn: bool
    attn_map: Optional[Tensor]

    def _init_adapter(self, need_attn: bool) -> None:
        self.need_attn = need_attn
        self.attn_map = None

    @classmethod
    def from_attention(cls, attn: nn.Module) -> nn.Module:
        """The adapter of ``attn``, sharing (not copying) its parameters and buffers.

        Sharing keeps optimiser state, DDP buckets and state-dict keys valid when a
        hook swaps the layer into a model that has already been built. The
        attribute dicts are copied, so ``attn`` itself is left as it was.
        """
        if isinstance(attn, cls):
            return attn
        new = cls.__new__(cls)
        for key, value in vars(attn).items():
            new.__dict__[key] = value.copy() if isinstance(value, dict) else value
        new._init_adapter(False)
        return new


class TapAdapter(AttentionAdapter):
    """Adapters reading the probabilities the upstream forward hands to ``attn_drop``."""

    attn_drop: nn.Module

    def _init_adapter(self, need_attn: bool) -> None:
        super()._init_adapter(need_attn)
        self.attn_drop = ProbsDropout.from_dropout(self.attn_drop)

    def _forward_keeping_map(self, forward: Callable[[], Tensor]) -> Tensor:
        if not self.need_attn:
            self.attn_map = None
            return forward()
        tap = self.attn_drop
        tap.keep, tap.probs = True, None
        try:
            out = forward()
        finally:
            tap.keep = False
        probs, tap.probs = tap.probs, None
        if probs is None or probs.dim() != 4 or probs.shape[-1] != probs.shape[-2]:
            raise RuntimeError(
                f'DOEI: {_upstream(type(self)).__name__} did not pass its attention probabilities '
                '(B, heads, T, T) through attn_drop; this version of it is not supported')
        self.attn_map = probs.mean(dim=1)
        return out


@MODELS.register_module()
class DOEIMMCVAttention(AttentionAdapter, MMCVMultiheadAttention):
    """mmcv's ``MultiheadAttention`` (mmseg's ViT blocks) exposing ``attn_map``.

    ``nn.MultiheadAttention`` returns its head-averaged weights after dropout;
    DOEI reads the attention itself, so with ``need_attn`` this layer computes
    the self-attention explicitly from the same ``in_proj_weight``,
    ``in_proj_bias`` and ``out_proj`` (torch's own ordering of q, k, v). Only
    self-attention without masks or positional terms (how mmseg's ViT calls it)
    can be read; other calls raise.
    """

    def __init__(self, *args, need_attn: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_adapter(need_attn)

    def forward(self, query: Tensor, key: Optional[Tensor] = None, value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None, query_pos: Optional[Tensor] = None,
                key_pos: Optional[Tensor] = None, attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None, **kwargs) -> Tensor:
        """Same result as the parent; also fills ``attn_map`` when ``need_attn``."""
        if not self.need_attn:
            self.attn_map = None
            return super().forward(query, key, value, identity, query_pos, key_pos, attn_mask,
                                   key_padding_mask, **kwargs)
        mha = self.attn
        extras = dict(query_pos=query_pos, key_pos=key_pos, attn_mask=attn_mask,
                      key_padding_mask=key_padding_mask, **kwargs)
        if (any(t is not None and t is not query for t in (key, value))
                or any(v is not None for v in extras.values())
                or not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn):
            raise NotImplementedError(
                'DOEI: DOEIMMCVAttention reads self-attention maps only (key = value = query, no '
                'masks, no positional terms, packed in_proj_weight), as mmseg VisionTransformer '
                'calls it')
        identity = query if identity is None else identity
        x = query if self.batch_first else query.transpose(0, 1)  # (B, T, D)
        B, T, D = x.shape
        heads = mha.num_heads
        qkv = F.linear(x, mha.in_proj_weight, mha.in_proj_bias)
        q, k, v = qkv.reshape(B, T, 3, heads, D // heads).permute(2, 0, 3, 1, 4)
        probs = ((q * mha.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        self.attn_map = probs.mean(dim=1)
        probs = F.dropout(probs, mha.dropout, self.training)
        out = mha.out_proj((probs @ v).transpose(1, 2).reshape(B, T, D))
        if not self.batch_first:
            out = out.transpose(0, 1)
        return identity + self.dropout_layer(self.proj_drop(out))


@MODELS.register_module()
class DOEITimmAttention(TapAdapter, TimmAttention):
    """timm's ``Attention`` exposing ``attn_map``; fused kernel off only while a map is read."""

    def __init__(self, *args, need_attn: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_adapter(need_attn)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        """Same result as the parent; also fills ``attn_map`` when ``need_attn``."""
        if not self.need_attn:
            return self._forward_keeping_map(lambda: super(DOEITimmAttention, self).forward(
                x, *args, **kwargs))
        fused = self.fused_attn
        self.fused_attn = False
        try:
            return self._forward_keeping_map(lambda: super(DOEITimmAttention, self).forward(
                x, *args, **kwargs))
        finally:
            self.fused_attn = fused


@MODELS.register_module()
class DOEIBEiTAttention(TapAdapter, BEiTAttention):
    """mmpretrain's ``BEiTAttention`` exposing ``attn_map``, relative position biases inside."""

    def __init__(self, *args, need_attn: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_adapter(need_attn)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        """Same result as the parent; also fills ``attn_map`` when ``need_attn``."""
        return self._forward_keeping_map(lambda: super(DOEIBEiTAttention, self).forward(
            x, *args, **kwargs))


@MODELS.register_module()
class DOEIEVA02Attention(TapAdapter, AttentionWithRoPE):
    """mmpretrain's EVA-02 ``AttentionWithRoPE`` exposing ``attn_map``, RoPE inside."""

    def __init__(self, *args, need_attn: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_adapter(need_attn)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        """Same result as the parent; also fills ``attn_map`` when ``need_attn``."""
        return self._forward_keeping_map(lambda: super(DOEIEVA02Attention, self).forward(
            x, *args, **kwargs))


@dataclass(frozen=True)
class AttentionFamily:
    """One attention class DOEI can read, and its adapter."""

    name: str            # as logged by DOEIHook
    models: str          # where it is found
    attention: type      # the upstream class
    adapter: type        # its adapter; ``adapter.from_attention(layer)`` wraps a layer

    def matches(self, attn: nn.Module) -> bool:
        """``attn`` is this family's class, a subclass keeping its forward, or the adapter."""
        if isinstance(attn, self.adapter):
            return True
        return isinstance(attn, self.attention) and type(attn).forward is self.attention.forward


FAMILIES: Tuple[AttentionFamily, ...] = (
    AttentionFamily('mmpretrain MultiheadAttention', 'mmpretrain ViT, DeiT, DeiT-3, Conformer',
                    MMPretrainMultiheadAttention, DOEIAttention),
    AttentionFamily('mmcv MultiheadAttention', 'mmseg VisionTransformer (SETR, Segmenter, UPerNet-ViT)',
                    MMCVMultiheadAttention, DOEIMMCVAttention),
    AttentionFamily('timm Attention', 'timm ViT/DeiT, mmpretrain TIMMBackbone',
                    TimmAttention, DOEITimmAttention),
    AttentionFamily('mmpretrain BEiTAttention', 'mmpretrain BEiTViT (relative position bias)',
                    BEiTAttention, DOEIBEiTAttention),
    AttentionFamily('mmpretrain AttentionWithRoPE', 'mmpretrain ViTEVA02 (EVA-02, RoPE)',
                    AttentionWithRoPE, DOEIEVA02Attention),
)


def attention_family(attn: nn.Module) -> Optional[AttentionFamily]:
    """The family ``attn`` belongs to, or None if DOEI cannot read its map."""
    return next((f for f in FAMILIES if f.matches(attn)), None)


def supported_families() -> str:
    """The supported families, one per line, for error messages."""
    return '\n'.join(f'  - {f.name} ({f.models})' for f in FAMILIES)


def adapt_attention(attn: nn.Module) -> nn.Module:
    """The adapter of ``attn`` (``attn`` itself if it is one), sharing its parameters.

    Raises:
        TypeError: ``attn`` belongs to no supported family.
    """
    family = attention_family(attn)
    if family is None:
        raise TypeError(f'DOEI cannot read the attention map of {type(attn).__module__}.'
                        f'{type(attn).__name__}; supported attention families:\n'
                        f'{supported_families()}')
    return family.adapter.from_attention(attn)
