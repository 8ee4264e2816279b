"""TransCAM (Li et al., JVCI 2023) as an mmpretrain classifier.

Conformer-S: its CNN branch ends in a 3x3 conv classification map (GAP
logits), its transformer branch in a linear head on the class token; one
multilabel soft-margin loss on the sum of both logits. CAMs
(liruiwen/TransCAM, ``network/conformer.py``), with ``P`` the patch-to-patch
attention, head-averaged and summed over all 12 transformer blocks, and ``F``
the CNN classification maps (before ReLU):

- ``transcam`` (default): ``cam[c, i] = sum_j P[i, j] F[c, j]``;
- ``convcam``: ``F`` alone;
- ``clsattn``: class-token-to-patch attention (summed over blocks) times ``F``;
- ``attnagg``: ``cam[c, i] = sum_j P[j, i] F[c, j]`` (transposed ``P``).

The authors' heads have 21 outputs (background first) of which only the 20
foreground ones are ever used; ours have the foreground outputs only (see
:class:`~mmdoei.models.heads.TransCAMHead`).
"""
from typing import List, Optional, Tuple

from mmpretrain.registry import MODELS
from torch import Tensor

from mmdoei.cam.functional import class_to_patch_attention, patch_affinity, refine_with_affinity
from ..utils.checkpoint import convert_transcam
from .base import WSSSClassifier

TRANSCAM_CAM_TYPES = ('transcam', 'convcam', 'clsattn', 'attnagg')


def transcam_cams(attn_maps: List[Tensor], conv_maps: Tensor, type: str = 'transcam') -> Tensor:
    """TransCAM's four CAMs from all blocks' attention and the CNN classification maps.

    Args:
        attn_maps: Every transformer block's head-averaged attention ``(B, 1 + N, 1 + N)``.
        conv_maps: CNN-branch class maps ``(B, K, h, w)`` on the token grid, pre-ReLU.
        type: ``'transcam'``, ``'convcam'``, ``'clsattn'`` or ``'attnagg'``.

    Returns:
        ``(B, K, h, w)``, raw as the authors compute them (possibly negative).
    """
    if type not in TRANSCAM_CAM_TYPES:
        raise ValueError(f'CAM type must be one of {TRANSCAM_CAM_TYPES}, got {type!r}')
    if type == 'convcam':
        return conv_maps
    grid = tuple(conv_maps.shape[-2:])
    if type == 'clsattn':
        return class_to_patch_attention(attn_maps, 1, len(attn_maps), grid) * conv_maps
    P = patch_affinity(attn_maps, 1)  # (B, N, N), sum over all blocks, rows not renormalised
    if P.shape[-1] != grid[0] * grid[1]:
        raise ValueError(f'the CNN maps {grid} are not on the token grid ({P.shape[-1]} patches); '
                         'TransCAM needs last_fusion_stride=1')
    return refine_with_affinity(conv_maps, P if type == 'transcam' else P.transpose(1, 2))


@MODELS.register_module()
class TransCAM(WSSSClassifier):
    """TransCAM: Conformer-S, CNN-map + class-token logits, attention-refined CAMs.

    Args:
        num_classes: Foreground classes (20 VOC, 80 COCO).
        backbone: Overrides for :class:`TransCAMConformer` (Conformer-S).
        head: Overrides for :class:`TransCAMHead`.
        cam_cfg: ``type`` (``transcam`` default, ``convcam``, ``clsattn``,
            ``attnagg``) and ``relu`` (default True: clamp at zero, giving the
            non-negative maps the CAM tools expect; the authors clamp the
            scale/flip *sum* at zero instead, ``relu=False`` returns their raw
            per-image maps exactly).
        **kwargs: :class:`WSSSClassifier` arguments (``doei``, ``data_preprocessor`` ...).

    The tensor-mode output is ``(conv_logits, trans_logits)``.
    """

    default_cam_cfg = dict(type='transcam', relu=True)
    # liruiwen/TransCAM voc12/data.py VOC12ClsDatasetMSF (squares 256/512/768, PIL
    # bicubic, flips), infer_TransCAM.py (sum, clamp the sum at 0, their min-max)
    cam_protocol = ('transcam', dict(scales=None, sizes=((256, 256), (512, 512), (768, 768)), flip=True,
                                     interpolation='bicubic', norm='clamp_sum'))
    checkpoint_converter = ('transcam2mmdoei', convert_transcam)

    def __init__(self, num_classes: int = 20, backbone: Optional[dict] = None,
                 head: Optional[dict] = None, **kwargs) -> None:
        backbone = {'type': 'TransCAMConformer', **(backbone or {})}
        head = {'type': 'TransCAMHead', 'num_classes': num_classes, **(head or {})}
        head.setdefault('in_channels', self._channels(backbone))
        super().__init__(backbone=backbone, head=head, **kwargs)
        if self.cam_cfg['type'] not in TRANSCAM_CAM_TYPES:
            raise ValueError(f'cam_cfg.type must be one of {TRANSCAM_CAM_TYPES}, '
                             f"got {self.cam_cfg['type']!r}")

    @staticmethod
    def _channels(backbone: dict) -> Tuple[int, int]:
        """``(C_cnn, D)`` of a Conformer config: ``base_channels * channel_ratio * 4`` and ``embed_dims``."""
        from mmdoei.models.backbones.conformer import TransCAMConformer
        arch = backbone.get('arch', 'small')
        arch = arch if isinstance(arch, dict) else TransCAMConformer.arch_zoo[arch.lower()]
        return int(backbone.get('base_channels', 64) * arch['channel_ratio'] * 4), arch['embed_dims']

    def extract_feat(self, inputs: Tensor) -> Tuple[Tuple[Tensor, Tensor], Tuple[int, int]]:
        """``((cnn_map, normalised tokens), grid)`` of the last stage."""
        feats = self.backbone(inputs)[-1]
        return feats, self.backbone.last_grid

    def cams(self, inputs: Tensor, type: Optional[str] = None, relu: Optional[bool] = None) -> Tensor:
        """TransCAM maps ``(B, K, h, w)`` on the token grid (= the CNN map's grid)."""
        cfg = self.resolve_cam_cfg(dict(type=type, relu=relu))
        feats, _, attn = self.forward_with_attention(inputs)
        cams = transcam_cams(attn, self.head.conv_maps(feats), cfg['type'])
        return cams.clamp_min(0) if cfg['relu'] else cams
