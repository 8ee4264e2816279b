"""Mix DOEI into an unmodified transformer backbone with PyTorch forward hooks.

One mechanism serves both the config hook (:class:`~mmdoei.doei.DOEIHook`) and
the classifiers that take ``doei=dict(...)``: :func:`attach_doei` swaps every
block's attention for :class:`DOEIAttention` (same parameters) and registers

- a pre-hook on the backbone that records the input image (HFA's colours) and
  resets the per-forward state,
- a hook on the patch embedding that records ``e`` (HFA's embeddings),
- a hook on each block ``1..K`` that replaces its output with the DOEI update.

No parameter or buffer is added, so state dicts are identical with and without
DOEI; :meth:`DOEIHandle.remove` restores the original behaviour.
"""
from typing import List, Optional, Tuple, Union

import torch
# mmpretrain's attention is the parent of ours; any block holding one is a transformer block.
from mmpretrain.models.utils import MultiheadAttention
from torch import Tensor, nn

from .attention import DOEIAttention
from .config import DOEIConfig
from .functional import doei_update, hfa_affinity


def find_transformer_blocks(model: nn.Module) -> List[nn.Module]:
    """Transformer blocks of ``model`` in forward order: modules with an ``attn`` child
    that is mmpretrain's ``MultiheadAttention`` (ViT, DeiT, Conformer's branch, ...)."""
    return [m for m in model.modules() if isinstance(getattr(m, 'attn', None), MultiheadAttention)]


def find_patch_embed(model: nn.Module) -> Optional[nn.Module]:
    """The module producing patch tokens before position embeddings, if recognisable.

    ``patch_embed`` for mmpretrain's ViT family, ``trans_patch_conv`` for Conformer.
    """
    for name in ('patch_embed', 'trans_patch_conv'):
        if isinstance(getattr(model, name, None), nn.Module):
            return getattr(model, name)
    return None


def _patch_tokens(output: Union[Tensor, Tuple]) -> Tuple[Tensor, Tuple[int, int]]:
    """Normalise a patch embedding's output to ``(tokens (B, N, D), grid (h, w))``."""
    if isinstance(output, tuple):  # mmcv PatchEmbed: (tokens, (h, w))
        tokens, grid = output[0], tuple(output[1])
        return tokens, grid
    if output.dim() == 4:  # a conv: (B, D, h, w)
        return output.flatten(2).transpose(1, 2), tuple(output.shape[-2:])
    raise TypeError(f'cannot read patch tokens from an output of shape {tuple(output.shape)}')


class DOEIHandle:
    """DOEI attached to one backbone; holds the per-forward state and the hooks.

    Not an ``nn.Module`` on purpose: it must add nothing to the state dict.
    """

    def __init__(self, backbone: nn.Module, cfg: DOEIConfig, blocks: List[nn.Module],
                 num_cls: int, patch_embed: Optional[nn.Module]) -> None:
        self.backbone = backbone
        self.cfg = cfg
        self.blocks = blocks
        self.num_cls = num_cls
        self.depth = len(blocks)
        self.num_layers = self.depth if cfg.layers is None else cfg.layers
        self.enabled = True
        self._img: Optional[Tensor] = None
        self._embed: Optional[Tuple[Tensor, Tuple[int, int]]] = None
        self._hfa: Optional[Tensor] = None
        self._handles = [backbone.register_forward_pre_hook(self._on_backbone_input)]
        if patch_embed is not None and self.uses_hfa:
            self._handles.append(patch_embed.register_forward_hook(self._on_patch_embed))
        for i, block in enumerate(blocks[:self.num_layers], start=1):
            block.attn.need_attn = True
            self._handles.append(block.register_forward_hook(self._make_block_hook(i)))

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
        self._embed = _patch_tokens(output)

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

    def _make_block_hook(self, block_idx: int):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> Optional[Tensor]:
            if not self.active:
                return None
            attn = module.attn.attn_map
            c = self.cfg
            return doei_update(
                output, attn, self.num_cls, block_idx, self.depth,
                st_p2c=c.st_p2c, af_p2c=c.af_p2c, sf_p2c=c.sf_p2c,
                st_c2c=c.st_c2c, af_c2c=c.af_c2c, sf_c2c=c.sf_c2c,
                alpha=c.alpha, hfa=self.hfa(), ppdo=c.ppdo, cpdo=c.cpdo,
                ppdo_suppress=c.ppdo_suppress, detach_scores=c.detach_scores)
        return hook

    def remove(self) -> None:
        """Detach every hook; the attention layers stay (they are drop-in)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        for block in self.blocks:
            block.attn.need_attn = False
        if getattr(self.backbone, '_doei_handle', None) is self:
            del self.backbone._doei_handle


def swap_attention(blocks: List[nn.Module]) -> None:
    """Replace each block's attention by :class:`DOEIAttention` sharing its weights."""
    for block in blocks:
        block.attn = DOEIAttention.from_attention(block.attn)


def attach_doei(backbone: nn.Module, cfg: Union[DOEIConfig, dict, None] = None,
                **overrides) -> DOEIHandle:
    """Attach DOEI to ``backbone`` (any mmpretrain ViT-family backbone).

    Args:
        backbone: The module whose ``forward`` takes the image first.
        cfg: A :class:`DOEIConfig` or its dict; keyword overrides win.

    Returns:
        The handle (also stored as ``backbone._doei_handle``); attaching again
        replaces the previous one.

    Raises:
        ValueError: no transformer blocks, ``layers`` beyond the depth, or no
            class tokens to work with.
    """
    if isinstance(cfg, DOEIConfig):
        cfg = cfg.to_dict()
    cfg = DOEIConfig.from_dict({**(cfg or {}), **overrides})
    name = type(backbone).__name__
    blocks = find_transformer_blocks(backbone)
    if not blocks:
        raise ValueError(f'DOEI: {name} has no transformer blocks (no module with an mmpretrain '
                         'MultiheadAttention `attn`); DOEI needs a ViT-family backbone')
    if cfg.layers is not None and cfg.layers > len(blocks):
        raise ValueError(f'DOEI: layers={cfg.layers} exceeds the depth of {name} ({len(blocks)} blocks)')
    num_cls = cfg.num_class_tokens or getattr(backbone, 'num_extra_tokens', 0)
    if num_cls < 1:
        raise ValueError(f'DOEI: {name} has no class token; set num_class_tokens')
    patch_embed = find_patch_embed(backbone)
    if patch_embed is None and cfg.ppdo and cfg.alpha > 0:
        raise ValueError(f'DOEI: cannot find the patch embedding of {name} for HFA; set alpha=0')
    old = getattr(backbone, '_doei_handle', None)
    if old is not None:
        old.remove()
    swap_attention(blocks)
    handle = DOEIHandle(backbone, cfg, blocks, num_cls, patch_embed)
    backbone._doei_handle = handle
    return handle
