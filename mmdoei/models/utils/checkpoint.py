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


def rename_keys(state: Mapping[str, Tensor], rules) -> 'OrderedDict[str, Tensor]':
    """Apply the first matching ``(pattern, replacement)`` regex rule to every key."""
    out = OrderedDict()
    for k, v in state.items():
        for pattern, repl in rules:
            new, n = re.subn(pattern, repl, k)
            if n:
                k = new
                break
        out[k] = v
    return out


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
    return rename_keys(state, _TIMM_TO_MMPRETRAIN)


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


# ---------------------------------------------------------------------------
# TS-CAM and TransCAM (Conformer)
# ---------------------------------------------------------------------------

# Inside Conformer's transformer blocks (``trans_1`` and ``conv_trans_N.trans_block``)
# the original Conformer/TransCAM code uses timm's block names.
_CONFORMER_BLOCK = r'^(trans_1|conv_trans_\d+\.trans_block)\.'
_TIMM_CONFORMER_TO_MMPRETRAIN = [
    (_CONFORMER_BLOCK + r'norm1\.', r'\1.ln1.'),
    (_CONFORMER_BLOCK + r'norm2\.', r'\1.ln2.'),
    (_CONFORMER_BLOCK + r'mlp\.fc1\.', r'\1.ffn.layers.0.0.'),
    (_CONFORMER_BLOCK + r'mlp\.fc2\.', r'\1.ffn.layers.1.'),
]


def strip_prefix(state: Mapping[str, Tensor], prefix: str = 'module.') -> Dict[str, Tensor]:
    """Remove ``prefix`` from every key that has it (``module.`` from DataParallel saves)."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def is_timm_conformer(state: Mapping[str, Tensor]) -> bool:
    """True for the original Conformer key names (``trans_1.norm1.weight``,
    ``conv_trans_2.trans_block.mlp.fc1.weight``), as Conformer's and TransCAM's code save them."""
    return any(re.match(_CONFORMER_BLOCK + r'(norm1|norm2|mlp)\.', k) for k in state)


def timm_conformer_to_mmpretrain(state: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Rename an original Conformer state dict to mmpretrain's ``Conformer`` keys.

    Only the transformer blocks differ (``norm1`` -> ``ln1``, ``mlp.fc1`` ->
    ``ffn.layers.0.0`` ...); the CNN branch, the coupling units, ``cls_token``,
    ``trans_patch_conv`` and ``trans_norm`` have the same names in both. The
    classifier heads (``conv_cls_head``, ``trans_cls_head``) are kept as they are.
    """
    return rename_keys(state, _TIMM_CONFORMER_TO_MMPRETRAIN)


def to_mmpretrain_conformer(ckpt: Mapping, prefix: Optional[str] = None) -> Dict[str, Tensor]:
    """Conformer backbone state dict in mmpretrain names from any supported checkpoint.

    Args:
        ckpt: A loaded checkpoint: the Conformer release (``Conformer_small_patch16.pth``,
            ``{'model': ...}`` or bare, original names), a TransCAM checkpoint
            (bare, original names), an mmpretrain Conformer classifier
            (``{'state_dict': {'backbone.conv1.weight', ...}}``) or a bare backbone
            state dict. A DataParallel ``module.`` prefix is removed.
        prefix: Keep only keys under this prefix and strip it; by default
            ``'backbone.'`` when such keys exist.

    The heads (``conv_cls_head``, ``trans_cls_head``) of original-format files
    stay in the result; a backbone reports them as unexpected keys.
    """
    state = strip_prefix(unwrap_state_dict(ckpt), 'module.')
    if is_timm_conformer(state):
        state = timm_conformer_to_mmpretrain(state)
    if prefix is None and any(k.startswith('backbone.') for k in state):
        prefix = 'backbone.'
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def is_vit(state: Mapping[str, Tensor]) -> bool:
    """True for a ViT state dict in mmpretrain or timm names (``layers.0.attn.qkv``,
    ``blocks.0.attn.qkv``), with or without the ``backbone.`` prefix."""
    return any(re.match(r'^(backbone\.)?(layers|blocks)\.0\.attn\.qkv\.', k) for k in state)


def vit_to_conformer_transformer(state: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Map a ViT backbone state dict (mmpretrain names) onto a Conformer's transformer branch.

    Conformer's transformer blocks are ViT blocks under other names: block 0 is
    ``trans_1``, block ``i > 0`` is ``conv_trans_{i+1}.trans_block``, the final
    norm ``ln1`` is ``trans_norm``; the class token keeps its name. The ViT's
    ``patch_embed`` and ``pos_embed`` have no counterpart (Conformer embeds
    patches from its CNN stem and has no position embedding), so they are
    dropped; so is everything else without a counterpart. Used to initialise
    TransCAM's transformer from a ViT checkpoint, which neither mmpretrain nor
    the TransCAM authors provide (they start from a whole Conformer checkpoint).
    """
    out = OrderedDict()
    for k, v in state.items():
        m = re.match(r'^layers\.(\d+)\.(.*)$', k)
        if m:
            i = int(m.group(1))
            block = 'trans_1' if i == 0 else f'conv_trans_{i + 1}.trans_block'
            out[f'{block}.{m.group(2)}'] = v
        elif k.startswith('ln1.'):
            out['trans_norm.' + k[len('ln1.'):]] = v
        elif k == 'cls_token':
            out[k] = v
    return out


def convert_tscam(ckpt: Mapping) -> 'OrderedDict[str, Tensor]':
    """A TS-CAM checkpoint (vasgaowei/TS-CAM, DeiT backbone) as a state dict of
    :class:`~mmdoei.models.TSCAM`.

    The authors save ``{'epoch', 'state_dict', 'best_map'}`` from a
    ``DataParallel`` model, so keys carry ``module.``; the rest are timm ViT
    names plus the conv head ``head.weight (K, D, 3, 3)``.

    - ViT keys go under ``backbone.`` in mmpretrain names, the final ``norm.*``
      (which TS-CAM applies) as ``backbone.ln1.*``;
    - the conv head becomes ``head.conv.*``.
    """
    state = strip_prefix(unwrap_state_dict(ckpt), 'module.')
    out = OrderedDict()
    for k, v in timm_vit_to_mmpretrain(state).items():
        if k.startswith('head.'):
            out['head.conv.' + k[len('head.'):]] = v
        else:
            out['backbone.' + k] = v
    return out


def convert_transcam(ckpt: Mapping, num_background: int = 1) -> 'OrderedDict[str, Tensor]':
    """A TransCAM checkpoint (liruiwen/TransCAM) as a state dict of :class:`~mmdoei.models.TransCAM`.

    The authors save ``model.module.state_dict()`` bare, in the original
    Conformer names, with heads of 21 outputs: ``conv_cls_head`` (a 3x3 conv)
    and ``trans_cls_head`` (a linear layer), output 0 being the background.
    Their loss and CAMs use outputs ``1:`` only, so output 0 never receives a
    gradient and never reaches a result; our heads have the 20 foreground
    outputs and the first ``num_background`` rows are dropped here. The 20
    foreground logits and CAMs are then exactly theirs.

    - backbone keys go under ``backbone.`` in mmpretrain names;
    - ``conv_cls_head.*`` / ``trans_cls_head.*`` become ``head.conv_cls_head.*`` /
      ``head.trans_cls_head.*`` without their first ``num_background`` rows.
    """
    state = timm_conformer_to_mmpretrain(strip_prefix(unwrap_state_dict(ckpt), 'module.'))
    out = OrderedDict()
    for k, v in state.items():
        if k.startswith(('conv_cls_head.', 'trans_cls_head.')):
            out['head.' + k] = v[num_background:]
        else:
            out['backbone.' + k] = v
    return out
