# PASCAL VOC 2012 + SBD (train_aug, 10,582 images) with image-level labels, the
# augmentations of the MCTformer authors (timm's DeiT recipe), and the loaders
# for CAM generation and seed evaluation. Point data_root at VOCdevkit/VOC2012
# (tools/train.py --data-root sets every data_root below at once).
dataset_type = 'VOCWSSSDataset'
data_root = 'data/VOCdevkit/VOC2012/'
num_classes = 20

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]

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
# CAMs are computed on whole images at their own size, decoded with PIL as the
# authors' datasets do (cv2's JPEG decoder can differ by a grey level).
cam_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='PackInputs', meta_keys=('sample_idx', 'img_path', 'img_id', 'ori_shape', 'img_shape')),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=5,
    dataset=dict(type=dataset_type, data_root=data_root,
                 split='ImageSets/Segmentation/train_aug.txt', pipeline=train_pipeline,
                 min_size=16),  # refuse images smaller than one patch before training
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=5,
    dataset=dict(type=dataset_type, data_root=data_root,
                 split='ImageSets/Segmentation/val.txt', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='AveragePrecision')
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# CAM generation (tools/test.py CONFIG CKPT --cam-out DIR): every train_aug image,
# which stage 2 needs; seeds are scored on the 1,464 train images, as in the paper.
cam_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root,
                 split='ImageSets/Segmentation/train_aug.txt', pipeline=cam_pipeline,
                 min_size=16),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
cam_eval = dict(data_root=data_root, split='ImageSets/Segmentation/train.txt',
                gt_dir='SegmentationClassAug', num_classes=num_classes + 1)
