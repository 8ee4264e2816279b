"""What every stage-1 WSSS classifier shares: backbone + head, DOEI by config, CAMs."""
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch
from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from mmdoei.doei import attach_doei


def vit_embed_dims(backbone: dict) -> int:
    """Channels of a ViT backbone config (``arch`` a name of mmpretrain's arch zoo or a dict)."""
    from mmpretrain.models.backbones import VisionTransformer
    arch = backbone.get('arch', 'deit-small')
    return arch['embed_dims'] if isinstance(arch, dict) else VisionTransformer.arch_zoo[arch]['embed_dims']


# What train_cfg may hold: mmpretrain's batch augmentations (BatchAugments' arguments).
TRAIN_CFG_KEYS = frozenset({'augments', 'probs'})


class WSSSClassifier(BaseClassifier):
    """A multilabel classifier whose :meth:`cams` gives class activation maps.

    Args:
        backbone: Backbone config (a ViT-family backbone).
        head: Head config; the head takes ``(tokens, grid)``.
        doei: DOEI settings (:class:`~mmdoei.doei.DOEIConfig` keys); None = off.
            Applied in training and CAM extraction alike (``in_train`` decides
            the former).
        cam_cfg: Default CAM settings, overridable per call of :meth:`cams`.
        data_preprocessor: As in mmpretrain (``ClsDataPreprocessor``).
        train_cfg: As in mmpretrain's ``ImageClassifier``: ``augments`` (and
            ``probs``) set the data preprocessor's batch augmentations (Mixup,
            CutMix ...), whose soft targets the heads take as ``gt_score``.

    The head takes what :meth:`extract_feat` returns (``feats``) in ``forward``,
    ``loss`` and ``predict``, as mmpretrain's heads do. Subclasses implement
    :meth:`cams`.

    A subclass declares what the code above it needs to know of it (found in
    the ``MODELS`` registry at lookup time, so a new baseline edits no list):

    - ``cam_protocol``: ``(name, settings)``, its authors' CAM protocol
      (:func:`~mmdoei.cam.multiscale_cams`'s ``scales``, ``sizes``, ``flip``,
      ``interpolation``, ``norm``); configs and tools name it
      (``cam_gen = dict(protocol=name)``, ``--cam-protocol name``), see
      :data:`mmdoei.cam.CAM_PROTOCOLS`;
    - ``checkpoint_converter``: ``(name, function)``, the converter of its
      authors' checkpoints to mmdoei's state dict; the metafiles'
      ``Converter: name`` and ``tools/model_converters/`` name it, see
      :func:`mmdoei.apis.hub.checkpoint_converters`.
    """

    default_cam_cfg: dict = {}
    #: ``(name, settings)`` of the authors' CAM protocol; None: none of its own.
    cam_protocol: Optional[Tuple[str, dict]] = None
    #: ``(name, function(checkpoint) -> state dict)`` of the authors' checkpoints; None: none.
    checkpoint_converter: Optional[Tuple[str, Callable[[Mapping], Mapping]]] = None

    def __init__(self, backbone: dict, head: dict, doei: Optional[dict] = None,
                 cam_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None, train_cfg: Optional[dict] = None) -> None:
        data_preprocessor = data_preprocessor or {}
        if train_cfg:
            unknown = set(train_cfg) - TRAIN_CFG_KEYS
            if unknown:
                raise KeyError(f'{type(self).__name__}: unknown train_cfg key(s) {sorted(unknown)}; '
                               f'known: {sorted(TRAIN_CFG_KEYS)}')
            if 'augments' in train_cfg:
                if not isinstance(data_preprocessor, dict):
                    raise TypeError(f'{type(self).__name__}: train_cfg.augments needs the data '
                                    'preprocessor as a config dict, not a built module')
                # mmpretrain's ImageClassifier rule: batch augmentations live in the preprocessor.
                data_preprocessor = {**data_preprocessor, 'batch_augments': train_cfg}
        if isinstance(data_preprocessor, dict):  # built here: BaseModel would look in mmengine's scope
            data_preprocessor = MODELS.build({'type': 'ClsDataPreprocessor', **data_preprocessor})
        super().__init__(init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.cam_cfg = dict(self.default_cam_cfg)
        self.cam_cfg = self.resolve_cam_cfg(cam_cfg or {})
        if doei is not None:
            attach_doei(self.backbone, doei)

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """Tokens ``(B, C + N, D)`` out of the last block and the patch grid."""
        tokens = self.backbone(inputs)[-1]
        return tokens, self.backbone.last_grid

    def forward(self, inputs: Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode not in ('tensor', 'loss', 'predict'):
            raise RuntimeError(f'Invalid mode "{mode}".')
        feats = self.extract_feat(inputs)
        if mode == 'tensor':
            return self.head(feats)
        if mode == 'loss':
            return self.head.loss(feats, data_samples)
        return self.head.predict(feats, data_samples)

    def forward_with_attention(self, inputs: Tensor) -> Tuple[Tensor, Tuple[int, int], List[Tensor]]:
        """Tokens, grid and every block's head-averaged attention, in one pass."""
        self.backbone.set_need_attn(True)
        try:
            tokens, grid = self.extract_feat(inputs)
            return tokens, grid, self.backbone.attention_maps()
        finally:
            self.backbone.set_need_attn(False)

    def cams(self, inputs: Tensor, **cam_cfg) -> Tensor:
        """Class activation maps ``(B, num_classes, h, w)`` on the patch grid."""
        raise NotImplementedError

    def resolve_cam_cfg(self, overrides: Dict) -> Dict:
        """The default CAM settings updated by the non-None ``overrides``, keys checked."""
        unknown = set(overrides) - set(self.cam_cfg)
        if unknown:
            raise KeyError(f'{type(self).__name__}.cams: unknown option(s) {sorted(unknown)}; '
                           f'known: {sorted(self.cam_cfg)}')
        return {**self.cam_cfg, **{k: v for k, v in overrides.items() if v is not None}}

    @torch.no_grad()
    def predict_cams(self, inputs: Tensor, **cam_cfg) -> Tensor:
        """:meth:`cams` without gradients, for inference tools."""
        return self.cams(inputs, **cam_cfg)
