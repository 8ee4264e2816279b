# TS-CAM in the pretrained regime: the same pretrained ViT as the MCTformer demo
# (one class token, final norm), fine-tuned on the synthetic VOC-layout set.
_base_ = [
    '../_base_/datasets/synthvoc_cls_64.py',
    '../_base_/schedules/demo_adamw_onecycle_40e-ft.py',  # fine-tuning: fewer epochs, a lower rate
    '../_base_/demo_runtime.py',
]
pretrained = 'checkpoints/vit-6l128_procedural-64.pth'
model = dict(
    type='TSCAM',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, num_layers=6, num_heads=2, feedforward_channels=512),
                  img_size=64, patch_size=8, drop_path_rate=0.,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    cam_cfg=dict())  # TS-CAM's default CAM
# One checkpoint, at the end of the schedule.
default_hooks = dict(checkpoint=dict(interval=_base_.max_epochs))
