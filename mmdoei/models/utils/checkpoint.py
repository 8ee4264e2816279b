"""Key conversion for ViT checkpoints published in other formats.

mmpretrain ships converters for many models but none for the original DeiT
release (facebook/timm key names, ``{'model': state_dict}``), which is what
MCTformer, TS-CAM and the DOEI paper initialise from. These functions map it
(and MCTformer's released checkpoints, which use the same names) onto
mmpretrain's ``VisionTransformer`` names.
"""
import re
from collections import OrderedDict
from typing import Dict, Mapping, Optional

from torch import Tensor

# timm/DeiT name -> mmpretrain VisionTransformer name (applied in order, first match wins).
_TIMM_TO_MMPRETRAIN = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'ln1.'),
]


def unwrap_state_dict(ckpt: Mapping) -> Dict[str, Tensor]:
    """The tensor dict inside a checkpoint: ``state_dict`` (mmengine), ``model``
    (DeiT, MCTformer) or the mapping itself."""
    for key in ('state_dict', 'model'):
        if key in ckpt and isinstance(ckpt[key], Mapping):
            return dict(ckpt[key])
    return dict(ckpt)


def is_timm_vit(state: Mapping[str, Tensor]) -> bool:
    """True for timm/DeiT key names (``blocks.0.attn.qkv.weight``)."""
    return any(k.startswith('blocks.') or k.startswith('patch_embed.proj.') for k in state)


def timm_vit_to_mmpretrain(state: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Rename a timm/DeiT ViT state dict to mmpretrain's ``VisionTransformer`` keys.

    Keys that have no counterpart (``head.*``, ``head_dist.*``, ``dist_token``)
    are kept under their own names; the caller decides what to do with them.
    """
    out = OrderedDict()
    for k, v in state.items():
        for pattern, repl in _TIMM_TO_MMPRETRAIN:
            new, n = re.subn(pattern, repl, k)
            if n:
                k = new
                break
        out[k] = v
    return out


def to_mmpretrain_vit(ckpt: Mapping, prefix: Optional[str] = None) -> Dict[str, Tensor]:
    """Backbone state dict in mmpretrain names from any supported checkpoint.

    Args:
        ckpt: A loaded checkpoint: DeiT/timm (``{'model': ...}``), an mmpretrain
            classifier (``{'state_dict': {'backbone.layers...'}}``) or a bare
            backbone state dict.
        prefix: Keep only keys under this prefix and strip it; by default
            ``'backbone.'`` when such keys exist.
    """
    state = unwrap_state_dict(ckpt)
    if is_timm_vit(state):
        state = timm_vit_to_mmpretrain(state)
    if prefix is None and any(k.startswith('backbone.') for k in state):
        prefix = 'backbone.'
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def convert_mctformer(ckpt: Mapping) -> 'OrderedDict[str, Tensor]':
    """The authors' released MCTformer-V1/V2 checkpoint (``{'model': ...}``, timm
    names) as a state dict of :class:`~mmdoei.models.MCTformerV1`/``V2``.

    - ViT keys go under ``backbone.`` in mmpretrain names;
    - V2's conv head ``head.weight (C, D, 3, 3)`` becomes ``head.conv.*``;
    - V1's unused linear ``head.*`` and the unused final ``norm.*`` are dropped
      (the authors never apply them, and our model does not have them).
    """
    state = unwrap_state_dict(ckpt)
    out = OrderedDict()
    conv_head = state.get('head.weight') is not None and state['head.weight'].dim() == 4
    for k, v in timm_vit_to_mmpretrain(state).items():
        if k.startswith('head.'):
            if conv_head:
                out['head.conv.' + k[len('head.'):]] = v
        elif not k.startswith('ln1.'):
            out['backbone.' + k] = v
    return out
