# The demo's fine-tuning schedule (the pretrained regime): the from-scratch schedule with
# fewer epochs and a lower peak rate.
_base_ = ['./demo_adamw_onecycle_60e.py']
max_epochs = 40
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [dict(type='OneCycleLR', eta_max=3e-4, total_steps=None, by_epoch=True,
                        convert_to_iter_based=True, pct_start=0.1, end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
