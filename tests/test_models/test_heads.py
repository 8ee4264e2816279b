"""The stage-1 heads on mmpretrain's MultiLabelClsHead: the authors' loss, by hand."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .mct_weights import build_tiny

B, K, D, GRID = 3, 5, 8, (2, 3)


def authors_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MCTformer's / TransCAM's ``F.multilabel_soft_margin_loss`` written out:
    the mean over classes and samples of -[y log s(x) + (1 - y) log s(-x)]."""
    return -(target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits)).mean()


def _samples():
    labels = ([0, 3], [4], [1, 2, 3])
    target = torch.zeros(B, K)
    for i, lab in enumerate(labels):
        target[i, lab] = 1
    return [DataSample().set_gt_label(lab) for lab in labels], target


def _tokens(num_class_tokens: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, num_class_tokens + GRID[0] * GRID[1], D, generator=g) * 2


def test_loss_module_by_hand():
    loss = MODELS.build(dict(type='MultiLabelSoftMarginLoss'))
    # one sample, logits (0, 2), target (1, 0): (log 2 + log(1 + e^2)) / 2
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert loss(torch.tensor([[0., 2.]]), torch.tensor([[1., 0.]])).item() == pytest.approx(expected, rel=1e-6)
    # mmpretrain's interface: per-sample weights, avg_factor, reduction, loss_weight
    x, y = torch.tensor([[0., 2.], [1., -1.]]), torch.tensor([[1., 0.], [1., 1.]])
    per = torch.stack([authors_loss(x[i], y[i]) for i in range(2)])
    torch.testing.assert_close(loss(x, y, reduction_override='none'), per)
    torch.testing.assert_close(loss(x, y, weight=torch.tensor([1., 3.]), avg_factor=4), (per[0] + 3 * per[1]) / 4)
    torch.testing.assert_close(MODELS.build(dict(type='MultiLabelSoftMarginLoss', loss_weight=.5))(x, y),
                               .5 * per.mean())
    assert MODELS.get('MultiLabelSoftMarginLoss').__module__.startswith('mmdoei.')
    with pytest.raises(ValueError, match=r'logits \(2, 2\) and targets \(2, 3\) differ'):
        loss(x, torch.zeros(2, 3))


@pytest.mark.parametrize('with_patch_head', [False, True])
def test_mct_head_loss_equals_the_authors(with_patch_head):
    head = MODELS.build(dict(type='MCTHead', num_classes=K, in_channels=D, with_patch_head=with_patch_head,
                             loss_weights=(1.0, 0.5)))
    feats = (_tokens(K), GRID)
    samples, target = _samples()
    losses = head.loss(feats, samples)
    logits = head(feats)
    assert set(losses) == ({'loss_cls', 'loss_patch'} if with_patch_head else {'loss_cls'})
    torch.testing.assert_close(losses['loss_cls'], authors_loss(logits[0], target), rtol=1e-6, atol=0)
    torch.testing.assert_close(losses['loss_cls'], F.multilabel_soft_margin_loss(logits[0], target),
                               rtol=1e-6, atol=0)
    if with_patch_head:
        torch.testing.assert_close(losses['loss_patch'], .5 * authors_loss(logits[1], target), rtol=1e-6, atol=0)
    preds = head.predict(feats)
    for p, score in zip(preds, torch.sigmoid(logits[0])):
        torch.testing.assert_close(p.pred_score, score)
        assert p.pred_label.tolist() == torch.where(score >= .5)[0].tolist()


def test_tscam_head_loss_equals_the_authors_and_soft_targets():
    head = MODELS.build(
        dict(type='TSCAMHead', num_classes=K, in_channels=D, loss=dict(type='MultiLabelSoftMarginLoss')))
    feats = (_tokens(1), GRID)
    samples, target = _samples()
    (logits, ) = head(feats)
    torch.testing.assert_close(head.loss(feats, samples)['loss_cls'], authors_loss(logits, target), rtol=1e-6, atol=0)
    # gt_score (e.g. from Mixup) wins over gt_label, as in mmpretrain
    soft = torch.rand(B, K, generator=torch.Generator().manual_seed(1))
    for s, row in zip(samples, soft):
        s.set_gt_score(row)
    torch.testing.assert_close(head.loss(feats, samples)['loss_cls'], authors_loss(logits, soft), rtol=1e-6, atol=0)
    top = MODELS.build(dict(type='TSCAMHead', num_classes=K, in_channels=D, topk=2))
    top.load_state_dict(head.state_dict())
    for p, score in zip(top.predict(feats), torch.sigmoid(logits)):
        assert sorted(p.pred_label.tolist()) == sorted(score.topk(2).indices.tolist())


def test_transcam_head_loss_is_of_the_summed_logits():
    head = MODELS.build(dict(type='TransCAMHead', num_classes=K, in_channels=(6, D)))
    head.init_weights()
    g = torch.Generator().manual_seed(2)
    feats = ((torch.randn(B, 6, *GRID, generator=g), _tokens(1)), GRID)
    samples, target = _samples()
    conv, trans = head(feats)
    torch.testing.assert_close(head.loss(feats, samples)['loss_cls'], authors_loss(conv + trans, target),
                               rtol=1e-6, atol=0)
    for p, score in zip(head.predict(feats), torch.sigmoid(conv + trans)):
        torch.testing.assert_close(p.pred_score, score)


def test_train_cfg_batch_augments_reach_the_loss():
    """train_cfg.augments: the preprocessor mixes images and targets, the head trains on the soft targets."""
    model = build_tiny('v2', train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)),
                       data_preprocessor=dict(num_classes=20))
    assert model.data_preprocessor.batch_augments is not None
    torch.manual_seed(0)
    np.random.seed(0)
    samples = [DataSample().set_gt_label([1, 3]), DataSample().set_gt_label([0])]
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)
                                                for _ in range(2)], data_samples=samples), training=True)
    scores = torch.stack([s.gt_score for s in data['data_samples']])
    assert scores.shape == (2, 20) and ((scores > 0) & (scores < 1)).any()  # mixed, not multi-hot
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    cls_logits, patch_logits = model(data['inputs'])
    torch.testing.assert_close(losses['loss_cls'], authors_loss(cls_logits, scores), rtol=1e-5, atol=0)
    torch.testing.assert_close(losses['loss_patch'], authors_loss(patch_logits, scores), rtol=1e-5, atol=0)
    # without train_cfg no batch augmentation
    assert build_tiny('v2').data_preprocessor.batch_augments is None


def test_unknown_train_cfg_key_is_refused():
    with pytest.raises(KeyError, match=r"MCTformerV2: unknown train_cfg key\(s\) \['max_epochs'\]"):
        build_tiny('v2', train_cfg=dict(max_epochs=3))
