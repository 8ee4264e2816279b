# The demo's TS-CAM baseline: the same 4-block, 128-channel ViT as the
# MCTformer demo (one class token, final norm), trained from scratch.
_base_ = [
    '../_base_/datasets/synthvoc_cls_64.py',
    '../_base_/schedules/demo_adamw_onecycle_60e.py',
    '../_base_/demo_runtime.py',
]
model = dict(
    type='TSCAM',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, num_layers=4, num_heads=2, feedforward_channels=512),
                  img_size=64, patch_size=8, drop_path_rate=0.),
    cam_cfg=dict())  # TS-CAM's default CAM
# One checkpoint, at the end of the schedule.
default_hooks = dict(checkpoint=dict(interval=_base_.max_epochs))
