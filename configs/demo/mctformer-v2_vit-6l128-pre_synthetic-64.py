# The demo's baseline in the pretrained regime: MCTformer-V2 on the small ViT
# (6 blocks, 128 channels, 8 x 8 patches) pretrained on the procedural set
# (configs/pretrain/, `python tools/pretrain.py`), fine-tuned on the synthetic
# VOC-layout set as the VOC configs fine-tune DeiT-S: the same init_cfg, the
# class token repeated for the 20 class tokens. docs/method.md, section 11,
# measured that DOEI behaves differently on a model trained from scratch, so
# this, not the from-scratch config, is where the demo and the sweeps measure DOEI.
_base_ = [
    '../_base_/datasets/synthvoc_cls_64.py',
    '../_base_/schedules/demo_adamw_onecycle_40e-ft.py',  # fine-tuning: fewer epochs, a lower rate
    '../_base_/demo_runtime.py',
]
pretrained = 'checkpoints/vit-6l128_procedural-64.pth'
model = dict(
    type='MCTformerV2',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, num_layers=6, num_heads=2, feedforward_channels=512),
                  img_size=64, patch_size=8, drop_path_rate=0.,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # Class-token attention of the last 5 of the 6 blocks: measured on the
    # baseline's seeds (seed 0, the 200 train images) the last 1 / 3 / 4 / 5 / 6
    # blocks gave 21.7 / 27.4 / 34.5 / 42.3 / 40.8 mIoU; fused 23.8 (last 3) and
    # 31.0 (all), patchcam 18.7, any of them with patch-affinity refinement
    # 13. The authors' last 3 are a quarter of DeiT-S's 12 blocks; a fine-tuned
    # 6-block model localises best with nearly all of them. Chosen on the
    # baseline, so that the choice cannot favour DOEI.
    cam_cfg=dict(type='mct', last_n=5, refine=False))
# One checkpoint, at the end of the schedule.
default_hooks = dict(checkpoint=dict(interval=_base_.max_epochs))
