# The demo's TransCAM baseline: a 6-block Conformer (128 channels in the
# transformer branch, CNN channels 32 x 0.25) trained from scratch. Conformer's
# patches are 16 pixels, so the 64 x 64 synthetic images are seen at 128 x 128
# (CAMs at scale 2, resized back) to get an 8 x 8 token grid.
_base_ = ['./mctformer-v2_vit-4l128_synthetic-64.py']
model = dict(
    _delete_=True,
    type='TransCAM',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, channel_ratio=0.25, num_heads=2, depths=6), base_channels=32,
                  drop_path_rate=0.))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=128, crop_ratio_range=(0.5, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]))
test_dataloader = val_dataloader
cam_gen = dict(scales=(2.0, ), flip=True)
