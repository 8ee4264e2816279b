# The MCTformer authors' training augmentations (timm's DeiT recipe) on 224 crops, the
# DeiT evaluation crop, and their CAM generation: five scales and the flips, summed.
# Combined with a dataset by ../voc12aug_cls_224.py and ../coco14_cls_224.py.
bgr_mean = [103.53, 116.28, 123.675]  # the ImageNet mean and std of the data preprocessor, in BGR
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
# CAM generation for configs without a protocol of their own (the VOC/COCO configs name
# their authors' protocol): image scales (the DOEI paper's 0.5..1.5; MCTformer's run.sh uses
# (1.0,)) and horizontal flip, summed.
cam_gen = dict(scales=(0.5, 0.75, 1.0, 1.25, 1.5), flip=True)
