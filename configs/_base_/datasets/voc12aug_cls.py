# PASCAL VOC 2012 + SBD (train_aug, 10,582 images) with image-level labels, the loaders
# for CAM generation and seed evaluation. Point data_root at VOCdevkit/VOC2012
# (tools/train.py --data-root sets every data_root below at once). The training and
# validation pipelines come from a recipe in pipelines/ (voc12aug_cls_224.py,
# voc12aug_cls_512.py put the two together).
dataset_type = 'VOCWSSSDataset'
data_root = 'data/VOCdevkit/VOC2012/'
num_classes = 20

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
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
                 split='ImageSets/Segmentation/train_aug.txt',
                 min_size=16),  # refuse images smaller than one patch before training
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=5,
    dataset=dict(type=dataset_type, data_root=data_root, split='ImageSets/Segmentation/val.txt'),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='AveragePrecision')
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
