# TransCAM in the pretrained regime: the 6-block, 128-channel Conformer whose
# transformer branch starts from the pretrained ViT's blocks (the CNN branch and
# the coupling units from their init: the procedural pretraining has no
# Conformer), fine-tuned like the other pretrained demo configs.
_base_ = ['./transcam_conformer-6l128_synthetic-128.py']
pretrained = 'checkpoints/vit-6l128_procedural-64.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # Measured on the baseline's seeds (seed 0, the 200 train images): transcam
    # 13.0, convcam 18.2, clsattn 33.9, attnagg 41.6 mIoU. The CNN branch starts
    # from random weights here (the procedural pretraining has no Conformer), so
    # its maps stay weak, and attention applied the other way round (attnagg)
    # localises best. Chosen on the baseline, so that it cannot favour DOEI; the
    # VOC configs keep the authors' transcam.
    cam_cfg=dict(type='attnagg', relu=True))
max_epochs = 40
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [dict(type='OneCycleLR', eta_max=3e-4, total_steps=None, by_epoch=True,
                        convert_to_iter_based=True, pct_start=0.1, end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
