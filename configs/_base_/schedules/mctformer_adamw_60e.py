# The MCTformer authors' schedule: AdamW, lr 5e-4 * 64 / 512, weight decay 0.05
# except norms, biases, class tokens and position embeddings; 5 warm-up epochs
# from 1e-6, then cosine to 1e-5 over 60 epochs, stepped once an epoch.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4 * 64 / 512, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / (5e-4 * 64 / 512), by_epoch=True, begin=0, end=5),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=60),
]
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# main.py: lr * batch_size * world_size / 512, i.e. linear in the total batch; mmengine's
# Runner applies the same ratio (world_size x batch / 64) to 6.25e-5 when enabled.
auto_scale_lr = dict(base_batch_size=64, enable=True)
