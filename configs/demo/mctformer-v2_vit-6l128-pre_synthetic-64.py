# The demo's baseline in the pretrained regime: MCTformer-V2 on the small ViT
# (6 blocks, 128 channels, 8 x 8 patches) pretrained on the procedural set
# (configs/pretrain/, `python tools/pretrain.py`), fine-tuned on the synthetic
# VOC-layout set as the VOC configs fine-tune DeiT-S: the same init_cfg, the
# class token repeated for the 20 class tokens. shared/design/SMALL-SCALE.md
# measured that DOEI behaves differently on a model trained from scratch, so
# this, not the from-scratch config, is where the demo and the sweeps measure DOEI.
_base_ = ['./mctformer-v2_vit-4l128_synthetic-64.py']
pretrained = 'checkpoints/vit-6l128_procedural-64.pth'
model = dict(
    backbone=dict(arch=dict(embed_dims=128, num_layers=6, num_heads=2, feedforward_channels=512),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
# Fine-tuning: fewer epochs and a lower peak rate than training from scratch.
max_epochs = 40
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [dict(type='OneCycleLR', eta_max=3e-4, total_steps=None, by_epoch=True,
                        convert_to_iter_based=True, pct_start=0.1, end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
