# The MCTformer authors' schedule: AdamW, lr 5e-4 * 64 / 512, weight decay 0.05
# except norms, biases, class tokens and position embeddings; timm's cosine over
# the 60 epochs to 1e-5 with its first 5 replaced by a warm-up from 1e-6 (both
# absolute, whatever auto_scale_lr does to the lr), stepped after each epoch as
# their main.py does: epochs 0 and 1 train at 1e-6, the highest is epoch 6 at
# 0.986 of the lr (TimmCosineLR; docs/protocol.md). Its length is max_epochs.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4 * 64 / 512, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}),
)
param_scheduler = [dict(type='TimmCosineLR', warmup_t=5, warmup_lr_init=1e-6, lr_min=1e-5, by_epoch=True)]
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# main.py: lr * batch_size * world_size / 512, i.e. linear in the total batch; mmengine's
# Runner applies the same ratio (world_size x batch / 64) to 6.25e-5 when enabled.
auto_scale_lr = dict(base_batch_size=64, enable=True)
