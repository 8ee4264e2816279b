"""TS-CAM (Gao et al., ICCV 2021) as an mmpretrain classifier.

DeiT-S with one class token; a 3x3 conv on the patch tokens (after the final
norm) gives class "semantic maps" whose global average are the logits. The
CAM is the class token's attention to the patches, head-averaged and summed
over *all* blocks, times the semantic maps (vasgaowei/TS-CAM,
``lib/models/deit.py``).

TS-CAM was published for single-label weakly supervised localisation (CUB,
ImageNet) with a cross-entropy loss and 224 x 224 inputs only; it has no VOC
or COCO code. Here it is multi-label (``multilabel_soft_margin_loss``, as
MCTformer) and, for CAMs on whole images, the patch position embeddings are
resized by MCTformer's rule (``pos_embed_resize='mctformer'``); at the
training size nothing is resized and the model is the authors'.
"""
from typing import List, Optional

from mmpretrain.registry import MODELS
from torch import Tensor

from mmdoei.cam.functional import class_to_patch_attention
from ..utils.checkpoint import convert_tscam
from .base import WSSSClassifier, vit_embed_dims


def tscam_cams(attn_maps: List[Tensor], semantic_maps: Tensor) -> Tensor:
    """TS-CAM's CAM: ``(sum over all blocks of A[:, 0, 1:]) * semantic maps``.

    Args:
        attn_maps: Every block's head-averaged attention ``(B, 1 + N, 1 + N)``.
        semantic_maps: The conv head's maps ``(B, K, h, w)``, before ReLU (the
            authors multiply the raw maps, so CAMs can be negative).

    Returns:
        ``(B, K, h, w)``; the attention factor is class-agnostic (one map,
        broadcast over the classes).
    """
    grid = tuple(semantic_maps.shape[-2:])
    attn = class_to_patch_attention(attn_maps, 1, len(attn_maps), grid)  # (B, 1, h, w)
    return attn * semantic_maps


@MODELS.register_module()
class TSCAM(WSSSClassifier):
    """TS-CAM: DeiT-S, conv-head GAP logits, attention x semantic-map CAMs.

    Args:
        num_classes: Foreground classes (20 VOC, 80 COCO).
        backbone: Overrides for :class:`MCTVisionTransformer` with one class
            token and the final norm applied, as TS-CAM does (DeiT-S by default).
        head: Overrides for :class:`TSCAMHead` (``loss='cross_entropy'`` for the
            authors' single-label setting).
        cam_cfg: ``relu`` (default True): clamp the CAM at zero. The authors'
            maps are raw (attention x pre-ReLU conv map, possibly negative);
            since the attention is non-negative, ``relu`` gives attention x
            ReLU(conv map), the non-negative maps the CAM tools expect.
            ``relu=False`` returns the authors' maps exactly.
        **kwargs: :class:`WSSSClassifier` arguments (``doei``, ``data_preprocessor`` ...).
    """

    default_cam_cfg = dict(relu=True)
    # vasgaowei/TS-CAM lib/datasets/cub.py test_transform (Resize((224, 224)), PIL
    # bilinear, no flip), lib/cams_deit.py resize_cam (min-max of the raw map)
    cam_protocol = ('tscam', dict(scales=None, sizes=((224, 224), ), flip=False, interpolation='bilinear',
                                  norm='minmax'))
    checkpoint_converter = ('tscam2mmdoei', convert_tscam)

    def __init__(self, num_classes: int = 20, backbone: Optional[dict] = None,
                 head: Optional[dict] = None, **kwargs) -> None:
        backbone = {'type': 'MCTVisionTransformer', 'num_class_tokens': 1, 'final_norm': True,
                    **(backbone or {})}
        if backbone['num_class_tokens'] != 1:
            raise ValueError('TS-CAM has exactly one class token')
        head = {'type': 'TSCAMHead', 'num_classes': num_classes, **(head or {})}
        head.setdefault('in_channels', vit_embed_dims(backbone))
        super().__init__(backbone=backbone, head=head, **kwargs)

    def cams(self, inputs: Tensor, relu: Optional[bool] = None) -> Tensor:
        """TS-CAM maps ``(B, K, h, w)`` on the patch grid."""
        cfg = self.resolve_cam_cfg(dict(relu=relu))
        tokens, grid, attn = self.forward_with_attention(inputs)
        # Detached as the authors do: CAMs are read out, not trained through.
        cams = tscam_cams(attn, self.head.semantic_maps(tokens, grid).detach())
        return cams.clamp_min(0) if cfg['relu'] else cams
