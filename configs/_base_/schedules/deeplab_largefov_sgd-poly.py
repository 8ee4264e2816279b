# MCTformer's DeepLab schedule (seg/train_seg.py, run_seg.sh): SGD, lr 7e-4, the new head
# at 10x, poly decay (power 0.9) per iteration to 0, batch 4, 30 "epochs" of iterations:
# 30 * (10,582 // 4) = 79,350 on VOC train_aug.
# Momentum 1e-5 and no weight decay reproduce the authors: their PolyOptimizer_cls passes
# weight_decay (1e-5) positionally to torch.optim.SGD, where the third argument is momentum.
max_iters = 79350
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=7e-4, momentum=1e-5, weight_decay=0.0),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)]
# The authors evaluate only the final model; one single-scale validation at the end.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
