# The TransCAM authors' schedule (train_TransCAM.py): batch 8, 20 epochs, AdamW lr 5e-5,
# weight decay 5e-4 on every parameter, eps 1e-8, constant learning rate.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=5e-4, eps=1e-8, betas=(0.9, 0.999)))
param_scheduler = []  # constant learning rate
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=8)
