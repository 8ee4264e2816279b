# TransCAM on MS COCO 2014 (80 classes), Conformer-S. The TransCAM authors
# publish VOC code only; this uses their VOC recipe unchanged (batch 8,
# 20 epochs, AdamW 5e-5, crops of 512) on COCO's train2014.
_base_ = [
    '../_base_/datasets/coco14_cls_224.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='TransCAM',
    num_classes=80,
    backbone=dict(
        arch='small', drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/conformer/'
                       'conformer-small-p16_3rdparty_8xb128_in1k_20211206-3065dcf5.pth')),
    cam_cfg=dict(type='transcam', relu=True),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # RandomResizeLong(320, 640): the long side uniform in [320, 640] (a square target of
    # 320 x ratio with the aspect ratio kept)
    dict(type='RandomResize', scale=(320, 320), ratio_range=(1.0, 2.0), keep_ratio=True,
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # torchvision's ColorJitter on a PIL image, as the authors (mmcv's hue shift fails under numpy 2)
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='RandomCrop', crop_size=512, pad_if_needed=True,
         pad_val=(104, 116, 124)),  # the ImageNet mean, BGR (a tuple: mmcv refuses lists)
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=5e-4, eps=1e-8, betas=(0.9, 0.999)))
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=8)
cam_gen = dict(scales=(0.5, 1.0, 1.5), flip=True)
