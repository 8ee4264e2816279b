# TransCAM in the pretrained regime: the 6-block, 128-channel Conformer whose
# transformer branch starts from the pretrained ViT's blocks (the CNN branch and
# the coupling units from their init: the procedural pretraining has no
# Conformer), fine-tuned like the other pretrained demo configs.
_base_ = [
    '../_base_/datasets/synthvoc_cls_128.py',
    '../_base_/schedules/demo_adamw_onecycle_40e-ft.py',  # fine-tuning: fewer epochs, a lower rate
    '../_base_/demo_runtime.py',
]
pretrained = 'checkpoints/vit-6l128_procedural-64.pth'
model = dict(
    type='TransCAM',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, channel_ratio=0.25, num_heads=2, depths=6), base_channels=32,
                  drop_path_rate=0., init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # Measured on the baseline's seeds (seed 0, the 200 train images): transcam
    # 13.0, convcam 18.2, clsattn 33.9, attnagg 41.6 mIoU. The CNN branch starts
    # from random weights here (the procedural pretraining has no Conformer), so
    # its maps stay weak, and attention applied the other way round (attnagg)
    # localises best. Chosen on the baseline, so that it cannot favour DOEI; the
    # VOC configs keep the authors' transcam.
    cam_cfg=dict(type='attnagg', relu=True))
# One checkpoint, at the end of the schedule.
default_hooks = dict(checkpoint=dict(interval=_base_.max_epochs))
