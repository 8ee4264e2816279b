# The synthetic VOC-layout set of the demo (tools/demo.py writes it: 64 x 64 images,
# the VOC classes and folders) with image-level labels: the VOC loaders of
# voc12aug_cls.py at CPU scale, no data workers (augmentation in the main process,
# from the seeded generators, so a run repeats bit for bit).
_base_ = ['./voc12aug_cls.py']
data_root = 'demo_out/data/VOC2012/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=50, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Seeds of the train split (the paper scores seeds on VOC train).
cam_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, split='ImageSets/Segmentation/train.txt'))
cam_eval = dict(data_root=data_root)
cam_gen = dict(scales=(1.0, ), flip=True)
