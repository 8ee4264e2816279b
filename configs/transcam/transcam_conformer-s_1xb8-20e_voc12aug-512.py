# TransCAM (Li et al., JVCI 2023) on PASCAL VOC 2012 (train_aug), Conformer-S:
# the authors' train_TransCAM.py settings.
#   batch 8, 20 epochs, AdamW lr 5e-5, weight decay 5e-4 on every parameter,
#   eps 1e-8, constant learning rate; crops of 512.
_base_ = [
    '../_base_/models/transcam_conformer-s.py',
    '../_base_/datasets/voc12aug_cls_224.py',
    '../_base_/schedules/transcam_adamw_20e.py',
    '../_base_/default_runtime.py',
]
# train_TransCAM.py: RandomResizeLong(320, 640) -> HFlip -> ColorJitter(0.3, 0.3, 0.3, 0.1)
# -> Normalize -> RandomCrop(512) padding with zeros after normalisation, i.e. with the
# mean colour before it. mmpretrain's crop centres a too-small image in the padding
# where the authors' places it at random; otherwise the same.
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
# The authors do not validate; the mAP check of the MCTformer configs is kept.
val_dataloader = dict(batch_size=8)
test_dataloader = val_dataloader

# CAM generation: the authors' infer_TransCAM.py (squares 256/512/768, aspect not kept, PIL
# bicubic, flips; raw maps summed, the sum clamped at zero, then their min-max).
cam_gen = dict(protocol='transcam', cam_cfg=dict(relu=False))
