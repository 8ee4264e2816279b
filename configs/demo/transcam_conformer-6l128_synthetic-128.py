# The demo's TransCAM baseline: a 6-block Conformer (128 channels in the
# transformer branch, CNN channels 32 x 0.25) trained from scratch. Conformer's
# patches are 16 pixels, so the 64 x 64 synthetic images are seen at 128 x 128
# (CAMs at scale 2, resized back) to get an 8 x 8 token grid.
_base_ = [
    '../_base_/datasets/synthvoc_cls_128.py',
    '../_base_/schedules/demo_adamw_onecycle_60e.py',
    '../_base_/demo_runtime.py',
]
model = dict(
    type='TransCAM',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, channel_ratio=0.25, num_heads=2, depths=6), base_channels=32,
                  drop_path_rate=0.))
# One checkpoint, at the end of the schedule.
default_hooks = dict(checkpoint=dict(interval=_base_.max_epochs))
