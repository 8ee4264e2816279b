"""Conformer-S as TransCAM uses it, on top of mmpretrain's ``Conformer``.

TransCAM (Li et al., JVCI 2023) takes Conformer (Peng et al., ICCV 2021) and
changes one thing: the last fusion block keeps stride 1, so that the CNN
branch ends at stride 16, on the same grid as the transformer's patch tokens
(the CAM multiplies one by the other's attention). Everything else, key names
included, is mmpretrain's ``Conformer``; the transformer blocks' attention is a
:class:`~mmdoei.doei.DOEIAttention` so attention maps can be read and DOEI
attached (through the hook of any block, with ``trans_patch_conv`` as the patch
embedding for HFA).
"""
from typing import List, Optional, Tuple

import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.models.backbones import Conformer
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from ..utils.checkpoint import (is_vit, strip_prefix, to_mmpretrain_conformer, to_mmpretrain_vit, unwrap_state_dict,
                                vit_to_conformer_transformer)
from .attention_maps import AttentionMapsMixin


@MODELS.register_module()
class TransCAMConformer(AttentionMapsMixin, Conformer):
    """mmpretrain's Conformer with TransCAM's stride-16 CNN output and attention maps.

    Args:
        arch: As ``Conformer`` (``'small'``: channel ratio 4, 384 dims, depth 12,
            6 heads, TransCAM's ``Net_sm``), or a dict with ``embed_dims``,
            ``depths``, ``num_heads``, ``channel_ratio``.
        last_fusion_stride: Stride of the last fusion block: 1 as TransCAM (CNN
            map on the token grid), 2 as the original Conformer and mmpretrain.
        fusion_drop_path: Stochastic depth in the CNN fusion blocks.
            mmpretrain adds it; the Conformer and TransCAM authors do not (only
            the transformer blocks have it), hence False.
        drop_path_rate: Stochastic depth of the transformer blocks (0.1 in
            TransCAM's ``Net_sm``).
        doei: DOEI settings (:class:`~mmdoei.doei.DOEIConfig` keys) or None.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads the Conformer
            release (``Conformer_small_patch16.pth``, original key names), an
            mmpretrain Conformer checkpoint, a TransCAM checkpoint, or a ViT
            checkpoint (DeiT or mmpretrain; its blocks initialise the
            transformer branch, the CNN branch keeps its init); see
            :meth:`init_weights`.
        **kwargs: Passed to ``Conformer`` (``base_channels``, ``qkv_bias`` ...).

    ``forward`` returns one ``(cnn_map, tokens)`` pair per output stage (the last
    by default): ``cnn_map`` ``(B, 256 * channel_ratio, h, w)``, ``tokens``
    ``(B, 1 + h * w, D)`` after ``trans_norm``. ``last_grid`` is ``(h, w)``.
    """

    def __init__(self, arch='small', last_fusion_stride: int = 1, fusion_drop_path: bool = False,
                 drop_path_rate: float = 0.1, doei: Optional[dict] = None,
                 init_cfg: Optional[dict] = None, **kwargs) -> None:
        if not kwargs.get('with_cls_token', True):
            raise ValueError('TransCAMConformer needs the class token (with_cls_token=True)')
        super().__init__(arch=arch, drop_path_rate=drop_path_rate, init_cfg=init_cfg, **kwargs)
        self.num_extra_tokens = 1  # what DOEI reads as C
        last = getattr(self, f'conv_trans_{self.depths}').fusion_block
        # Strides only: the weights are the same, so ImageNet checkpoints still load.
        last.conv2.stride = (last_fusion_stride, last_fusion_stride)
        last.residual_conv.stride = (last_fusion_stride, last_fusion_stride)
        self.last_fusion_stride = last_fusion_stride
        if not fusion_drop_path:
            for i in range(2, self.fin_stage):
                getattr(self, f'conv_trans_{i}').fusion_block.drop_path = nn.Identity()
        self.last_grid: Optional[Tuple[int, int]] = None
        self.setup_attention(doei)

    @property
    def transformer_blocks(self) -> List[nn.Module]:
        """``trans_1`` and every ``conv_trans_i.trans_block``, in forward order."""
        return [self.trans_1] + [getattr(self, f'conv_trans_{i}').trans_block
                                 for i in range(2, self.fin_stage)]

    @property
    def cnn_channels(self) -> int:
        """Channels of the CNN branch's last map (1024 for Conformer-S)."""
        return getattr(self, f'conv_trans_{self.depths}').fusion_block.conv3.out_channels

    def init_weights(self) -> None:
        """Conformer's own init, or load a checkpoint in any known Conformer format.

        mmengine's ``Pretrained`` initialiser reads only mmengine key names, while
        the Conformer release (what TransCAM fine-tunes from) uses the original
        names; so a ``Pretrained`` init_cfg is handled here: convert the keys,
        load what fits (the ImageNet heads are not part of the backbone).
        """
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            self._load_pretrained(self.init_cfg['checkpoint'], self.init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    def _load_pretrained(self, checkpoint: str, prefix: Optional[str]) -> None:
        logger = MMLogger.get_current_instance()
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        if is_vit(strip_prefix(unwrap_state_dict(ckpt), 'module.')):
            # A plain ViT (the small pretrained backbone of configs/pretrain/):
            # its blocks become the transformer branch.
            state = vit_to_conformer_transformer(to_mmpretrain_vit(ckpt, prefix=prefix))
        else:
            state = to_mmpretrain_conformer(ckpt, prefix=prefix)
        missing, unexpected = self.load_state_dict(state, strict=False)
        logger.info(f'{type(self).__name__}: loaded {checkpoint}; missing {missing}; '
                    f'unexpected {unexpected}')
        self.pretrained_report = dict(missing=missing, unexpected=unexpected)

    def forward(self, x: Tensor) -> Tuple[Tuple[Tensor, Tensor], ...]:
        B = x.shape[0]
        x_base = self.auto_pad(self.maxpool(self.act1(self.bn1(self.conv1(x)))))
        x = self.conv_1(x_base, out_conv2=False)
        x_t = self.trans_patch_conv(x_base)
        grid = tuple(x_t.shape[-2:])
        x_t = torch.cat([self.cls_token.expand(B, -1, -1), x_t.flatten(2).transpose(1, 2)], dim=1)
        x_t = self.trans_1(x_t)
        outs = []
        for i in range(2, self.fin_stage):
            x, x_t = getattr(self, f'conv_trans_{i}')(x, x_t)
            if i in self.out_indices:
                outs.append((x, self.trans_norm(x_t)))
        self.last_grid = grid
        return tuple(outs)
