# The TransCAM authors' train_TransCAM.py augmentations, on crops of 512, batch 8:
# RandomResizeLong(320, 640) -> HFlip -> ColorJitter(0.3, 0.3, 0.3, 0.1) -> Normalize ->
# RandomCrop(512) padding with zeros after normalisation, i.e. with the mean colour
# before it. mmpretrain's crop centres a too-small image in the padding where the
# authors' places it at random; otherwise the same.
# Combined with a dataset by ../voc12aug_cls_512.py and ../coco14_cls_512.py.
batch_size = 8
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
# The authors do not validate; the mAP check of the other configs is kept, on the
# 512 x 512 squares their CAM inference resizes images to.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
# CAM generation. The authors resize every image to squares of 256, 512 and 768
# (aspect not kept) plus flips, sum, clamp the sum at zero; the CAM tool uses
# scale factors of the image's own size instead: 0.5, 1.0, 1.5 of a ~500 x 375
# VOC image cover about the same range.
cam_gen = dict(scales=(0.5, 1.0, 1.5), flip=True)
