# The demo's synthetic VOC-layout set (synthvoc_cls_64.py) seen at 128 x 128, for
# models with 16-pixel patches (Conformer): the 64 x 64 images are resized so that
# they give an 8 x 8 token grid, and CAMs are computed at scale 2 and resized back.
_base_ = ['./voc12aug_cls.py']
data_root = 'demo_out/data/VOC2012/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=128, crop_ratio_range=(0.5, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=50, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Seeds of the train split (the paper scores seeds on VOC train).
cam_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, split='ImageSets/Segmentation/train.txt'))
cam_eval = dict(data_root=data_root)
cam_gen = dict(scales=(2.0, ), flip=True)
