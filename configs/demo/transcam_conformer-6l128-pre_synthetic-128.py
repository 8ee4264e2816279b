# TransCAM in the pretrained regime: the 6-block, 128-channel Conformer whose
# transformer branch starts from the pretrained ViT's blocks (the CNN branch and
# the coupling units from their init: the procedural pretraining has no
# Conformer), fine-tuned like the other pretrained demo configs.
_base_ = ['./transcam_conformer-6l128_synthetic-128.py']
pretrained = 'checkpoints/vit-6l128_procedural-64.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
max_epochs = 40
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [dict(type='OneCycleLR', eta_max=3e-4, total_steps=None, by_epoch=True,
                        convert_to_iter_based=True, pct_start=0.1, end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
