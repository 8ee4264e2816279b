# PSA's AffinityNet schedule (train_aff.py, README): SGD, lr 0.1, weight decay 5e-4,
# poly decay (power 0.9) per iteration over 8 epochs; the new head learns 10x faster
# (PSA's "from scratch" parameter groups; biases would get 2x lr and no decay, but no
# trained conv has a bias and every BN is frozen).
# Momentum 5e-4 reproduces PSA: its PolyOptimizer passes weight_decay positionally to
# torch.optim.SGD, where the third argument is momentum (so, in effect, no momentum).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=5e-4, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}, bias_lr_mult=2.0, bias_decay_mult=0.0))
max_epochs = 8
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs + 1)
val_cfg = None
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=8, enable=False)
