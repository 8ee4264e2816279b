"""MCTformer-V1 and -V2 (Xu et al., CVPR 2022) as mmpretrain classifiers.

V1: class-token logits, CAM = class-to-patch attention of the last ``n``
blocks. V2: adds a 3x3 conv head on the patch tokens (GAP logits, second
loss); CAM types ``fused`` (attention x ReLU(conv map), the default),
``patchcam`` (ReLU(conv map)) and ``mct`` (attention alone). Either can be
refined by the patch-to-patch attention summed over all blocks.
"""
from typing import Optional

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from mmdoei.cam.functional import class_to_patch_attention, patch_affinity, refine_with_affinity
from ..utils.checkpoint import convert_mctformer
from .base import WSSSClassifier, vit_embed_dims

CAM_TYPES_V2 = ('fused', 'patchcam', 'mct')


def _mct_backbone(backbone: dict, num_classes: int) -> dict:
    return {'type': 'MCTVisionTransformer', 'num_class_tokens': num_classes, **backbone}


@MODELS.register_module()
class MCTformerV1(WSSSClassifier):
    """MCTformer-V1: ``C`` class tokens, logits = token mean, CAM = attention.

    Args:
        num_classes: Foreground classes (20 VOC, 80 COCO).
        backbone: Overrides for :class:`MCTVisionTransformer` (DeiT-S by default).
        cam_cfg: ``last_n`` (blocks summed, the authors' ``--layer-index``,
            default 3) and ``refine`` (patch-affinity refinement, default True),
            as in the authors' run scripts.
    """

    default_cam_cfg = dict(last_n=3, refine=True)
    # xulianuwa/MCTformer run.sh (--scales 1.0), datasets.py VOC12DatasetMS (PIL bicubic,
    # image and its flip), engine.py generate_attention_maps_ms (sum, per-class min-max)
    cam_protocol = ('mctformer', dict(scales=(1.0, ), sizes=None, flip=True, interpolation='bicubic', norm='minmax'))
    checkpoint_converter = ('mctformer2mmdoei', convert_mctformer)

    def __init__(self, num_classes: int = 20, backbone: Optional[dict] = None,
                 head: Optional[dict] = None, **kwargs) -> None:
        backbone = _mct_backbone(backbone or {}, num_classes)
        head = {'type': 'MCTHead', 'num_classes': num_classes, 'with_patch_head': False, **(head or {})}
        head.setdefault('in_channels', vit_embed_dims(backbone))
        super().__init__(backbone=backbone, head=head, **kwargs)
        depth = len(self.backbone.layers)
        if not 1 <= self.cam_cfg['last_n'] <= depth:  # fail at build time, not hours later
            raise ValueError(f"cam_cfg.last_n={self.cam_cfg['last_n']} must be in [1, {depth}] "
                             f'(the backbone has {depth} blocks)')

    def cams(self, inputs: Tensor, last_n: Optional[int] = None, refine: Optional[bool] = None) -> Tensor:
        """Class-to-patch attention of the last ``last_n`` blocks, ``(B, C, h, w)``."""
        cfg = self.resolve_cam_cfg(dict(last_n=last_n, refine=refine))
        _, grid, attn = self.forward_with_attention(inputs)
        cams = class_to_patch_attention(attn, self.num_classes, cfg['last_n'], grid)
        if cfg['refine']:
            cams = refine_with_affinity(cams, patch_affinity(attn, self.num_classes))
        return cams


@MODELS.register_module()
class MCTformerV2(MCTformerV1):
    """MCTformer-V2: V1 plus the conv patch head and its loss; ``fused`` CAMs.

    ``cam_cfg`` adds ``type`` (``fused`` default, ``patchcam``, ``mct``).
    """

    default_cam_cfg = dict(type='fused', last_n=3, refine=True)

    def __init__(self, num_classes: int = 20, backbone: Optional[dict] = None,
                 head: Optional[dict] = None, **kwargs) -> None:
        head = {'with_patch_head': True, **(head or {})}
        super().__init__(num_classes=num_classes, backbone=backbone, head=head, **kwargs)
        if self.cam_cfg['type'] not in CAM_TYPES_V2:
            raise ValueError(f"cam_cfg.type must be one of {CAM_TYPES_V2}, got {self.cam_cfg['type']!r}")

    def cams(self, inputs: Tensor, type: Optional[str] = None, last_n: Optional[int] = None,
             refine: Optional[bool] = None) -> Tensor:
        """``fused``, ``patchcam`` or ``mct`` CAMs, ``(B, C, h, w)``."""
        cfg = self.resolve_cam_cfg(dict(type=type, last_n=last_n, refine=refine))
        if cfg['type'] not in CAM_TYPES_V2:
            raise ValueError(f"CAM type must be one of {CAM_TYPES_V2}, got {cfg['type']!r}")
        tokens, grid, attn = self.forward_with_attention(inputs)
        patch = torch.relu(self.head.patch_maps(tokens, grid).detach())
        if cfg['type'] == 'patchcam':
            cams = patch
        else:
            cams = class_to_patch_attention(attn, self.num_classes, cfg['last_n'], grid)
            if cfg['type'] == 'fused':
                cams = cams * patch
        if cfg['refine']:
            cams = refine_with_affinity(cams, patch_affinity(attn, self.num_classes))
        return cams
