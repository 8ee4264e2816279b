"""The multi-class-token ViT of MCTformer, on top of mmpretrain's ``VisionTransformer``.

``C`` learnable class tokens (one per foreground class) precede the patch
tokens; position embeddings cover both. Every block's attention is a
:class:`~mmdoei.doei.DOEIAttention`, so attention maps are available from any
block on request and DOEI can be attached without further surgery.
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.model.weight_init import trunc_normal_
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from ..utils.checkpoint import to_mmpretrain_vit
from .attention_maps import AttentionMapsMixin


def resize_patch_pos_embed_mctformer(pos: Tensor, src: Tuple[int, int],
                                     dst: Tuple[int, int], square_image: bool = True) -> Tensor:
    """Resize patch position embeddings ``(1, h*w, D)`` as MCTformer (and DINO) do.

    They interpolate bicubically by a *scale factor* of ``(dst + 0.1) / src``
    rather than to a size: the source coordinates then follow the factor, which
    differs slightly from mmpretrain's size-based resize. Reproducing the
    authors' CAMs at other scales to 1e-5 needs exactly this.

    The authors return the embeddings unchanged only when the grid matches
    *and* the input image is square (``npatch == N and w == h``). A non-square
    image whose grid still matches (224 x 232 gives 14 x 14 patches) is
    resampled by a factor of 14.1 / 14, which is not an identity: pass
    ``square_image=False`` for such inputs to get their numbers.
    """
    if tuple(src) == tuple(dst) and square_image:
        return pos
    D = pos.shape[-1]
    grid = pos.reshape(1, src[0], src[1], D).permute(0, 3, 1, 2)
    out = F.interpolate(grid, scale_factor=((dst[0] + 0.1) / src[0], (dst[1] + 0.1) / src[1]),
                        mode='bicubic')
    assert tuple(out.shape[-2:]) == tuple(dst), (out.shape, dst)
    return out.permute(0, 2, 3, 1).reshape(1, -1, D)


@MODELS.register_module()
class MCTVisionTransformer(AttentionMapsMixin, VisionTransformer):
    """ViT with ``num_class_tokens`` class tokens (MCTformer's backbone).

    Args:
        num_class_tokens: ``C`` (20 for VOC, 80 for COCO).
        pos_embed_resize: ``'mctformer'`` resizes patch position embeddings for
            other input sizes by the authors' scale-factor rule (default, exact
            reproduction), ``'mmpretrain'`` by mmpretrain's size-based rule.
        doei: DOEI settings (:class:`~mmdoei.doei.DOEIConfig` keys) or None.
        **kwargs: Passed to ``VisionTransformer``. Defaults differ from it where
            MCTformer does: no final norm (the authors never apply it), raw
            token output, patch embedding without padding (partial patches at
            the border are dropped, as a stride-16 conv does).

    ``forward`` returns ``(tokens,)``, tokens ``(B, C + N, D)``. After a forward
    pass with ``need_attn`` set, :meth:`attention_maps` gives every block's
    head-averaged attention.
    """

    def __init__(self, num_class_tokens: int = 20, arch: str = 'deit-small',
                 final_norm: bool = False, out_type: str = 'raw',
                 pos_embed_resize: str = 'mctformer', patch_cfg: Optional[dict] = None,
                 doei: Optional[dict] = None, init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if pos_embed_resize not in ('mctformer', 'mmpretrain'):
            raise ValueError(f"pos_embed_resize must be 'mctformer' or 'mmpretrain', "
                             f'got {pos_embed_resize!r}')
        patch_cfg = dict(padding=0, **(patch_cfg or {}))
        super().__init__(arch=arch, final_norm=final_norm, out_type=out_type,
                         patch_cfg=patch_cfg, init_cfg=init_cfg, **kwargs)
        self.num_extra_tokens = num_class_tokens
        self.num_class_tokens = num_class_tokens
        self.pos_embed_resize = pos_embed_resize
        self.cls_token = nn.Parameter(torch.zeros(1, num_class_tokens, self.embed_dims))
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_class_tokens + num_patches, self.embed_dims))
        self.setup_attention(doei)

    @property
    def transformer_blocks(self) -> List[nn.Module]:
        return list(self.layers)

    @property
    def patch_size(self) -> Tuple[int, int]:
        return tuple(self.patch_embed.projection.stride)

    def init_weights(self) -> None:
        """Truncated-normal tokens, or load a DeiT/ViT checkpoint in any known format.

        mmengine's ``Pretrained`` initialiser reads only ``state_dict`` and mmengine
        key names, while DeiT's own release is ``{'model': ...}`` in timm names with
        a single class token. So a ``Pretrained`` init_cfg is handled here, the way
        the MCTformer authors fine-tune from DeiT: convert the keys, repeat the
        class token and its position embedding ``C`` times, resize the patch
        position embeddings to this grid, load the rest.
        """
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            self._load_pretrained(self.init_cfg['checkpoint'], self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()
        trunc_normal_(self.cls_token, std=.02)
        trunc_normal_(self.pos_embed, std=.02)

    def adapt_tokens(self, state: dict) -> list:
        """Fit a checkpoint's class tokens and position embeddings to this model, in place.

        Returns the names of the entries that were adapted (repeated or resized).
        """
        C = self.num_class_tokens
        adapted = []
        n_src = state['cls_token'].shape[1] if 'cls_token' in state else 1
        if 'cls_token' in state and n_src != C and n_src == 1:
            state['cls_token'] = state['cls_token'].repeat(1, C, 1)
            adapted.append('cls_token')
        if 'pos_embed' in state and state['pos_embed'].shape != self.pos_embed.shape:
            pos = state['pos_embed']
            side = int(math.sqrt(pos.shape[1] - n_src))
            patch = resize_pos_embed(pos[:, n_src:], (side, side), self.patch_resolution,
                                     mode=self.interpolate_mode, num_extra_tokens=0)
            extra = pos[:, :n_src].repeat(1, C // n_src, 1) if C % n_src == 0 else None
            if extra is not None:
                state['pos_embed'] = torch.cat((extra, patch), dim=1)
                adapted.append('pos_embed')
        for k in ('cls_token', 'pos_embed'):  # anything still not fitting keeps its init
            if k in state and state[k].shape != getattr(self, k).shape:
                del state[k]
        return adapted

    def _load_pretrained(self, checkpoint: str, prefix: Optional[str]) -> None:
        logger = MMLogger.get_current_instance()
        trunc_normal_(self.cls_token, std=.02)
        trunc_normal_(self.pos_embed, std=.02)
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        state = to_mmpretrain_vit(ckpt, prefix=prefix)
        adapted = self.adapt_tokens(state)
        own = self.state_dict()
        if not any(k in own for k in state):
            # strict=False would load nothing and train from the random init without a word
            raise ValueError(f'{checkpoint}: none of its {len(state)} weights (e.g. {sorted(state)[:3]}) is one '
                             f'of {type(self).__name__}\'s (e.g. {sorted(own)[:3]}): a checkpoint of another model?')
        missing, unexpected = self.load_state_dict(state, strict=False)
        logger.info(f'{type(self).__name__}: loaded {checkpoint}; adapted {adapted}; '
                    f'missing {missing}; unexpected {unexpected}')
        self.pretrained_report = dict(missing=missing, unexpected=unexpected, adapted=adapted)

    def _patch_pos_embed(self, grid: Tuple[int, int], square_image: bool = True) -> Tensor:
        C = self.num_class_tokens
        if self.pos_embed_resize == 'mctformer':
            patch = resize_patch_pos_embed_mctformer(self.pos_embed[:, C:], self.patch_resolution, grid,
                                                     square_image)
            return torch.cat((self.pos_embed[:, :C], patch), dim=1)
        return resize_pos_embed(self.pos_embed, self.patch_resolution, grid,
                                mode=self.interpolate_mode, num_extra_tokens=C)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        B, square = x.shape[0], x.shape[-2] == x.shape[-1]
        x, grid = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = self.drop_after_pos(x + self._patch_pos_embed(tuple(grid), square))
        x = self.pre_norm(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(x)
        self.last_grid = tuple(grid)
        return tuple(outs)
