# The demo's baseline: MCTformer-V2 at CPU scale on the synthetic VOC-layout
# set (tools/demo.py writes it): a 4-block, 128-channel ViT with 8 x 8 patches
# on 64 x 64 images, trained from scratch. At this scale plain class-token
# attention makes the best CAMs (docs/method.md, section 11, measured fused,
# patchcam and affinity refinement all lower), so the demo uses it.
_base_ = [
    '../_base_/datasets/synthvoc_cls_64.py',
    '../_base_/schedules/demo_adamw_onecycle_60e.py',
    '../_base_/demo_runtime.py',
]
model = dict(
    type='MCTformerV2',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, num_layers=4, num_heads=2, feedforward_channels=512),
                  img_size=64, patch_size=8, drop_path_rate=0.),
    cam_cfg=dict(type='mct', last_n=3, refine=False))
# One checkpoint, at the end of the schedule.
default_hooks = dict(checkpoint=dict(interval=_base_.max_epochs))
