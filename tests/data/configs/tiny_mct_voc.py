# configs/doei/mct_voc.py at CPU-test scale: a 2-block, 32-channel MCTformer-V2
# on 64 x 64 crops, no pretrained weights. Everything else is the real config.
_base_ = ['../../../configs/doei/mct_voc.py']
model = dict(backbone=dict(
    arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
    img_size=64, patch_size=16, drop_path_rate=0., init_cfg=None),
    # A small model trained from scratch does best with plain class-token
    # attention (docs/method.md, section 11).
    cam_cfg=dict(type='mct', last_n=2, refine=False))
train_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')]))
val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs')]))
test_dataloader = val_dataloader
cam_dataloader = dict(num_workers=0)
cam_gen = dict(scales=(1.0, ), flip=True)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
auto_scale_lr = dict(base_batch_size=8)  # 1e-3 at 8 images a step, on 1 rank or 2 x 4
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(save_best=None))
