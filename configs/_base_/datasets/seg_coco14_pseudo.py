# MS COCO 2014 (81 classes) for the segmentation stage: train on the stage-2 pseudo masks of
# train2014 (82,081 images, MCTformer's train_id.txt), validate on val2014 (40,137) with
# the WSSS ground truth SegmentationClass/val2014 (0 background, 1..80, 255 ignore).
# Same recipe as seg_voc12aug_pseudo.py.
dataset_type = 'COCOObjectDataset'
data_root = 'data/coco/'
num_classes = 81
pseudo_mask_dir = 'work_dirs/pseudo_masks/coco14_train'
crop_size = (321, 321)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPseudoMask', num_classes=num_classes),
    dict(type='RandomRescale', ratio_range=(0.7, 1.3)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
                    [dict(type='RandomFlip', prob=0., direction='horizontal'),
                     dict(type='RandomFlip', prob=1., direction='horizontal')],
                    [dict(type='LoadAnnotations')],
                    [dict(type='PackSegInputs')]])
]
tta_model = dict(type='CRFSegTTAModel', merge_mode='max',
                 crf=dict(iterations=10, gaussian_sxy=4, gaussian_compat=3, bilateral_sxy=83, bilateral_srgb=5,
                          bilateral_compat=3))

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train_id.txt',
        data_prefix=dict(img_path='train2014'),
        pseudo_mask_dir=pseudo_mask_dir,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='val_id.txt',
        data_prefix=dict(img_path='val2014', seg_map_path='SegmentationClass/val2014'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
