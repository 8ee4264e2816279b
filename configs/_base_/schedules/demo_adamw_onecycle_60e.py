# The demo's schedule for training from scratch: AdamW 1e-3 (no decay on norms, biases,
# class tokens and position embeddings), one-cycle over 60 epochs, stepped per iteration,
# one validation at the end.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                        custom_keys={'.cls_token': dict(decay_mult=0.0),
                                                     '.pos_embed': dict(decay_mult=0.0)}))
max_epochs = 60
param_scheduler = [dict(type='OneCycleLR', eta_max=1e-3, total_steps=None, by_epoch=True,
                        convert_to_iter_based=True, pct_start=0.1, end=max_epochs)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
