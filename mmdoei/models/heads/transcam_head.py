"""TransCAM's heads: CNN-branch classification maps and a linear head on the class token."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

# ``((cnn_map, normalised tokens), patch grid)``: what TransCAM.extract_feat gives.
ConformerFeats = Tuple[Tuple[Tensor, Tensor], Tuple[int, int]]


@MODELS.register_module()
class TransCAMHead(MultiLabelClsHead):
    """``conv_cls_head``: ``Conv2d(C_cnn, K, 3, padding=1)`` on the CNN branch's last
    map, logits = its global average (before any ReLU); ``trans_cls_head``:
    ``Linear(D, K)`` on the normalised class token.

    The loss is the authors' single multilabel soft-margin loss of the *sum* of
    the two logits (not one loss per branch), and so are the predictions; targets,
    loss module and predictions are :class:`MultiLabelClsHead`'s.

    The authors' heads have 21 outputs, output 0 for the background, which
    their loss and CAMs both drop (``[:, 1:]``): it never gets a gradient and
    never reaches a result. This head has the ``K`` foreground outputs only;
    :func:`~mmdoei.models.utils.convert_transcam` drops row 0 of their weights,
    so logits and CAMs of the 20 classes are exactly theirs.

    Args:
        num_classes: ``K`` foreground classes.
        in_channels: ``(C_cnn, D)``: 1024 and 384 for Conformer-S.
        loss: Loss config, the authors' multilabel soft-margin loss by default.
        thr, topk: As in :class:`MultiLabelClsHead` (``thr`` 0.5 by default).
    """

    def __init__(self, num_classes: int, in_channels: Sequence[int] = (1024, 384),
                 loss: dict = dict(type='MultiLabelSoftMarginLoss'), thr: Optional[float] = None,
                 topk: Optional[int] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.conv_cls_head = nn.Conv2d(in_channels[0], num_classes, 3, 1, 1)
        self.trans_cls_head = nn.Linear(in_channels[1], num_classes)

    def init_weights(self) -> None:
        """As the authors' ``Net._init_weights`` leaves these layers (they are never
        loaded from ImageNet): truncated normal (std 0.02) linear weights with zero
        bias, Kaiming-normal (fan-out) conv weights with PyTorch's default bias."""
        if self.init_cfg is not None:
            super().init_weights()
            return
        trunc_normal_(self.trans_cls_head.weight, std=.02)
        nn.init.constant_(self.trans_cls_head.bias, 0)
        nn.init.kaiming_normal_(self.conv_cls_head.weight, mode='fan_out', nonlinearity='relu')

    def conv_maps(self, feats: Tuple[Tensor, Tensor]) -> Tensor:
        """The CNN branch's class maps ``(B, K, h, w)``, before any ReLU."""
        return self.conv_cls_head(feats[0])

    def forward(self, feats: ConformerFeats) -> Tuple[Tensor, Tensor]:
        """``(conv_logits, trans_logits)``."""
        (cnn_map, tokens), _ = feats
        # adaptive_avg_pool2d, as the authors: the same reduction order as theirs.
        conv_logits = F.adaptive_avg_pool2d(self.conv_cls_head(cnn_map), 1).flatten(1)
        trans_logits = self.trans_cls_head(tokens[:, 0])
        return conv_logits, trans_logits

    def loss(self, feats: ConformerFeats, data_samples: List[DataSample], **kwargs) -> Dict[str, Tensor]:
        """``loss_cls``: the loss of conv logits + transformer logits."""
        conv_logits, trans_logits = self(feats)
        return {'loss_cls': self._get_loss(conv_logits + trans_logits, data_samples, **kwargs)['loss']}

    def predict(self, feats: ConformerFeats, data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Sigmoid of the summed logits (what the loss trains)."""
        conv_logits, trans_logits = self(feats)
        return self._get_predictions(conv_logits + trans_logits, data_samples)
