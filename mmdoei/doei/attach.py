"""Mix DOEI into an unmodified transformer backbone with PyTorch forward hooks.

One mechanism serves both the config hook (:class:`~mmdoei.doei.DOEIHook`) and
the classifiers that take ``doei=dict(...)``: :func:`attach_doei` swaps every
block's attention for its family's adapter (:mod:`mmdoei.doei.adapters`: same
parameters) and registers

- a pre-hook on the backbone that records the input image (HFA's colours) and
  resets the per-forward state,
- a hook on the patch embedding that records ``e`` (HFA's embeddings),
- a hook on each block ``1..K`` that replaces its output with the DOEI update.

The adapter is picked by the attention's class, the patch embedding and the
number of extra tokens (class, distillation, register tokens: DOEI's ``C``) by
the backbone (:func:`num_extra_tokens`, :func:`find_patch_embed`). No parameter
or buffer is added, so state dicts are identical with and without DOEI;
:meth:`DOEIHandle.remove` restores the original behaviour.
"""
from functools import partial
from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .adapters import AttentionFamily, adapt_attention, attention_family, supported_families
from .config import DOEIConfig
from .functional import doei_selection, doei_update, hfa_affinity


def _attention_children(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, block)`` of every module with an ``attn`` child, in forward order.

    Attention layers of a supported family are not blocks themselves (mmcv's
    ``MultiheadAttention`` keeps its ``nn.MultiheadAttention`` as ``attn``).
    """
    return [(name, m) for name, m in model.named_modules()
            if isinstance(getattr(m, 'attn', None), nn.Module) and attention_family(m) is None]


def find_transformer_blocks(model: nn.Module) -> List[nn.Module]:
    """Transformer blocks of ``model`` in forward order: modules whose ``attn`` child
    belongs to a supported attention family (:data:`~mmdoei.doei.adapters.FAMILIES`)."""
    return [m for _, m in _attention_children(model) if attention_family(m.attn) is not None]


def _token_owner(backbone: nn.Module) -> nn.Module:
    """The module holding the tokens' bookkeeping: the timm model inside mmpretrain's
    ``TIMMBackbone``, else the backbone itself."""
    inner = getattr(backbone, 'timm_model', None)
    return inner if isinstance(inner, nn.Module) else backbone


def num_extra_tokens(backbone: nn.Module) -> int:
    """Tokens in front of the patch tokens (DOEI's ``C``), read from the backbone.

    ``num_extra_tokens`` for mmpretrain's ViT family (class and distillation
    tokens) and our backbones, ``num_prefix_tokens`` for timm models (class,
    distillation and register tokens; also inside ``TIMMBackbone``),
    ``with_cls_token`` for mmseg's ``VisionTransformer``; else 0.
    """
    owner = _token_owner(backbone)
    for attr in ('num_extra_tokens', 'num_prefix_tokens'):
        value = getattr(owner, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    with_cls = getattr(owner, 'with_cls_token', None)
    return int(with_cls) if isinstance(with_cls, bool) else 0


def find_patch_embed(model: nn.Module) -> Optional[nn.Module]:
    """The module producing patch tokens before position embeddings, if recognisable.

    ``patch_embed`` for mmpretrain's and mmseg's ViT families and timm's (also
    inside ``TIMMBackbone``), ``trans_patch_conv`` for Conformer.
    """
    owner = _token_owner(model)
    for name in ('patch_embed', 'trans_patch_conv'):
        if isinstance(getattr(owner, name, None), nn.Module):
            return getattr(owner, name)
    return None


def _patch_tokens(module: nn.Module, args: tuple,
                  output: Union[Tensor, Tuple]) -> Tuple[Tensor, Tuple[int, int]]:
    """Normalise a patch embedding's output to ``(tokens (B, N, D), grid (h, w))``."""
    if isinstance(output, tuple):  # mmcv/mmpretrain/mmseg PatchEmbed: (tokens, (h, w))
        return output[0], tuple(output[1])
    fmt = getattr(module, 'output_fmt', None)
    if output.dim() == 4 and str(getattr(fmt, 'value', fmt)) == 'NHWC':  # timm, dynamic_img_size
        return output.flatten(1, 2), tuple(output.shape[1:3])
    if output.dim() == 4:  # a conv: (B, D, h, w)
        return output.flatten(2).transpose(1, 2), tuple(output.shape[-2:])
    if output.dim() == 3 and torch.is_tensor(args[0]) and hasattr(module, 'patch_size'):
        # timm PatchEmbed, flattened: the grid follows from the image it was given.
        img_size = tuple(args[0].shape[-2:])
        if hasattr(module, 'dynamic_feat_size'):
            grid = tuple(module.dynamic_feat_size(img_size))
        else:
            grid = tuple(s // p for s, p in zip(img_size, module.patch_size))
        if grid[0] * grid[1] == output.shape[1]:
            return output, grid
    raise TypeError(f'DOEI: cannot read patch tokens and their grid from {type(module).__name__}, '
                    f'output of shape {tuple(output.shape)}; set alpha=0 to run without HFA')


class DOEIHandle:
    """DOEI attached to one backbone; holds the per-forward state and the hooks.

    Not an ``nn.Module`` on purpose: it must add nothing to the state dict.
    """

    def __init__(self, backbone: nn.Module, cfg: DOEIConfig, blocks: List[nn.Module],
                 num_cls: int, patch_embed: Optional[nn.Module],
                 family: Optional[AttentionFamily] = None) -> None:
        self.backbone = backbone
        self.family = family
        self.blocks = blocks
        self.depth = len(blocks)
        self.enabled = True
        #: A list to record each acting block's selection in (the mechanism view), or None (off).
        self.recording: Optional[list] = None
        self._img: Optional[Tensor] = None
        self._embed: Optional[Tuple[Tensor, Tuple[int, int]]] = None
        self._hfa: Optional[Tensor] = None
        self._patch_embed = patch_embed
        self._handles: list = []
        self._register(cfg, num_cls)

    def _register(self, cfg: DOEIConfig, num_cls: int) -> None:
        """Take ``cfg`` and register the hooks it needs (the backbone's, the patch embedding's
        if HFA is used, one per acting block)."""
        self.cfg = cfg
        self.num_cls = num_cls
        self.num_layers = self.depth if cfg.layers is None else cfg.layers
        self._handles = [self.backbone.register_forward_pre_hook(self._on_backbone_input)]
        if self._patch_embed is not None and self.uses_hfa:
            self._handles.append(self._patch_embed.register_forward_hook(self._on_patch_embed))
        for i, block in enumerate(self.blocks[:self.num_layers], start=1):
            block.attn.need_attn = True
            # A partial of a bound method, not a closure: a deep copy of the model (EMA,
            # copy.deepcopy) then calls its own copy of the handle.
            self._handles.append(block.register_forward_hook(partial(self._on_block_output, i)))

    def _unregister(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        for block in self.blocks:
            block.attn.need_attn = False

    def reconfigure(self, cfg: Union[DOEIConfig, dict]) -> DOEIConfig:
        """Switch this handle, in place, to ``cfg`` (e.g. for one call, then back); the
        handle stays the model's, so a reference to it keeps working.

        Returns:
            The previous config (give it back to restore).

        Raises:
            ValueError: as :func:`attach_doei`, for ``layers`` beyond the depth or HFA
                without a patch embedding.
        """
        cfg = DOEIConfig.from_dict(cfg.to_dict() if isinstance(cfg, DOEIConfig) else dict(cfg))
        name = type(self.backbone).__name__
        if cfg.layers is not None and cfg.layers > self.depth:
            raise ValueError(f'DOEI: layers={cfg.layers} exceeds the depth of {name} ({self.depth} blocks)')
        if self._patch_embed is None and cfg.ppdo and cfg.alpha > 0:
            raise ValueError(f'DOEI: cannot find the patch embedding of {name} for HFA; set alpha=0')
        num_cls = cfg.num_class_tokens or num_extra_tokens(self.backbone)
        old = self.cfg
        self._unregister()
        self._register(cfg, num_cls)
        return old

    @property
    def uses_hfa(self) -> bool:
        """HFA is computed only if it can change something."""
        return self.cfg.ppdo and self.cfg.alpha > 0

    @property
    def active(self) -> bool:
        """Whether DOEI acts in the backbone's current mode."""
        return self.enabled and (self.cfg.in_train or not self.backbone.training)

    def _on_backbone_input(self, module: nn.Module, args: tuple) -> None:
        self._img = args[0] if args and torch.is_tensor(args[0]) else None
        self._embed = None
        self._hfa = None

    def _on_patch_embed(self, module: nn.Module, args: tuple, output) -> None:
        self._embed = _patch_tokens(module, args, output)

    def hfa(self) -> Optional[Tensor]:
        """The HFA affinity of the current forward pass, built once and reused."""
        if not self.uses_hfa:
            return None
        if self._hfa is None:
            if self._img is None or self._embed is None:
                raise RuntimeError('DOEI: HFA needs the input image and the patch embedding; '
                                   'call the backbone with the image as first argument')
            tokens, grid = self._embed
            self._hfa = hfa_affinity(self._img, tokens, grid)
        return self._hfa

    def _check_hfa(self, hfa: Optional[Tensor], x: Tensor) -> None:
        if hfa is not None and hfa.shape[-1] != x.shape[1] - self.num_cls:
            raise RuntimeError(
                f'DOEI: {hfa.shape[-1]} patches came out of the patch embedding but the blocks see '
                f'{x.shape[1] - self.num_cls} patch tokens (C={self.num_cls}); token dropping or '
                'pooling between them does not fit HFA: set alpha=0')

    def _on_block_output(self, block_idx: int, module: nn.Module, args: tuple,
                         output: Tensor) -> Optional[Tensor]:
        if not self.active:
            return None
        attn = module.attn.attn_map
        c = self.cfg
        hfa = self.hfa()
        self._check_hfa(hfa, output)
        if self.recording is not None:
            # What this block's update selects, from the functional code itself, and its inputs.
            sel = doei_selection(attn, self.num_cls, block_idx, self.depth, st_p2c=c.st_p2c, st_c2c=c.st_c2c,
                                 alpha=c.alpha if c.ppdo else 0., hfa=hfa)
            self.recording.append(dict(sel, block=block_idx, attn=attn.detach().clone(), ppdo=c.ppdo,
                                       cpdo=c.cpdo and self.num_cls > 1,
                                       grid=None if self._embed is None else tuple(self._embed[1])))
        return doei_update(
            output, attn, self.num_cls, block_idx, self.depth,
            st_p2c=c.st_p2c, af_p2c=c.af_p2c, sf_p2c=c.sf_p2c,
            st_c2c=c.st_c2c, af_c2c=c.af_c2c, sf_c2c=c.sf_c2c,
            alpha=c.alpha, hfa=hfa, ppdo=c.ppdo, cpdo=c.cpdo,
            ppdo_suppress=c.ppdo_suppress, detach_scores=c.detach_scores)

    def remove(self) -> None:
        """Detach every hook; the attention layers stay (they are drop-in)."""
        self._unregister()
        if getattr(self.backbone, '_doei_handle', None) is self:
            del self.backbone._doei_handle


def swap_attention(blocks: List[nn.Module]) -> None:
    """Replace each block's attention by its family's adapter sharing its weights."""
    for block in blocks:
        block.attn = adapt_attention(block.attn)


def _unsupported(model: nn.Module) -> List[str]:
    """``path (class)`` of every ``attn`` child DOEI has no adapter for."""
    return [f'{name + "." if name else ""}attn ({type(m.attn).__module__}.{type(m.attn).__name__})'
            for name, m in _attention_children(model) if attention_family(m.attn) is None]


def attach_doei(backbone: nn.Module, cfg: Union[DOEIConfig, dict, None] = None,
                **overrides) -> DOEIHandle:
    """Attach DOEI to ``backbone``: any ViT whose attention is in a supported family.

    mmpretrain's ViT family (ViT, DeiT, DeiT-3, BEiT, EVA-02, Conformer's
    branch), mmseg's ``VisionTransformer``, timm ViTs and mmpretrain's
    ``TIMMBackbone`` over them; see :data:`~mmdoei.doei.adapters.FAMILIES`.

    Args:
        backbone: The module whose ``forward`` takes the image first.
        cfg: A :class:`DOEIConfig` or its dict; keyword overrides win.

    Returns:
        The handle (also stored as ``backbone._doei_handle``); attaching again
        replaces the previous one.

    Raises:
        ValueError: no transformer blocks, blocks of an attention class DOEI
            cannot read (the message lists the supported families), ``layers``
            beyond the depth, or no class tokens to work with.
    """
    if isinstance(cfg, DOEIConfig):
        cfg = cfg.to_dict()
    cfg = DOEIConfig.from_dict({**(cfg or {}), **overrides})
    name = type(backbone).__name__
    unsupported = _unsupported(backbone)
    if unsupported:
        raise ValueError(
            f'DOEI: {name} has attention DOEI cannot read the map of: {", ".join(unsupported[:3])}'
            f'{" ..." if len(unsupported) > 3 else ""}. Supported attention families:\n'
            f'{supported_families()}')
    blocks = find_transformer_blocks(backbone)
    if not blocks:
        raise ValueError(f'DOEI: {name} has no transformer blocks (no module with an `attn` child '
                         f'of a supported attention family); supported families:\n'
                         f'{supported_families()}')
    families = {attention_family(b.attn) for b in blocks}
    if len(families) > 1:
        raise ValueError(f'DOEI: {name} mixes attention families '
                         f'({", ".join(sorted(f.name for f in families))}); attach DOEI to one '
                         'transformer at a time (DOEIHook: module=...)')
    if cfg.layers is not None and cfg.layers > len(blocks):
        raise ValueError(f'DOEI: layers={cfg.layers} exceeds the depth of {name} ({len(blocks)} blocks)')
    num_cls = cfg.num_class_tokens or num_extra_tokens(backbone)
    if num_cls < 1:
        raise ValueError(f'DOEI: {name} has no class token; set num_class_tokens')
    patch_embed = find_patch_embed(backbone)
    if patch_embed is None and cfg.ppdo and cfg.alpha > 0:
        raise ValueError(f'DOEI: cannot find the patch embedding of {name} for HFA; set alpha=0')
    old = getattr(backbone, '_doei_handle', None)
    if old is not None:
        old.remove()
    swap_attention(blocks)
    handle = DOEIHandle(backbone, cfg, blocks, num_cls, patch_embed, families.pop())
    backbone._doei_handle = handle
    return handle
