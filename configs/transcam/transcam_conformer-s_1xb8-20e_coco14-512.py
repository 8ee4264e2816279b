# TransCAM on MS COCO 2014 (80 classes), Conformer-S. The TransCAM authors
# publish VOC code only; this uses their VOC recipe unchanged (batch 8,
# 20 epochs, AdamW 5e-5, crops of 512) on COCO's train2014.
_base_ = [
    '../_base_/models/transcam_conformer-s.py',
    '../_base_/datasets/coco14_cls_224.py',
    '../_base_/schedules/transcam_adamw_20e.py',
    '../_base_/default_runtime.py',
]
model = dict(num_classes=80)
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

# CAM generation: the authors' infer_TransCAM.py (squares 256/512/768, aspect not kept, PIL
# bicubic, flips; raw maps summed, the sum clamped at zero, then their min-max).
cam_gen = dict(protocol='transcam', cam_cfg=dict(relu=False))
