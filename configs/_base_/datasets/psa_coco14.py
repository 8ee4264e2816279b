# Pseudo-label stage (PSA) on MS COCO 2014 train (82,081 images with annotations, 80
# classes). Same recipe as psa_voc12aug.py; masks hold 0..80 (+255), scored against
# SegmentationClass/train2014 when those GT masks exist.
dataset_type = 'COCOWSSSDataset'
data_root = 'data/coco/'
num_classes = 81  # with background
cam_dir = 'work_dirs/cams/coco14_train'
crop_size = 448
bgr_mean = [103.53, 116.28, 123.675]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAffinityLabelFromCAM', cam_dir=cam_dir, low_alpha=4, high_alpha=32, num_classes=num_classes,
         cache_dir=cam_dir + '_psa_crf'),
    # PSA's jitter: torchvision's ColorJitter on the RGB image (mmcv's adjust_hue fails on
    # negative hues under numpy 2).
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='mmseg.RandomCrop', crop_size=(crop_size, crop_size)),
    dict(type='RandomPad', size=crop_size, img_pad_val=[round(v) for v in bgr_mean], seg_pad_val=dict(aff_scores=0)),
    dict(type='mmseg.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PoolAffinityLabel', stride=8),
    dict(type='PackInputs', algorithm_keys=['gt_aff_label'], meta_keys=['img_id', 'img_path', 'img_shape']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMFromFile', cam_dir=cam_dir, num_classes=num_classes),
    dict(type='PackInputs', algorithm_keys=['cams', 'cam_keys'],
         meta_keys=['img_id', 'img_path', 'ori_shape', 'img_shape', 'seg_map_path']),
]
_dataset = dict(type=dataset_type, data_root=data_root, ann_file='annotations/instances_train2014.json',
                data_prefix=dict(img_path='train2014', seg_map_path='SegmentationClass/train2014'))

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**_dataset, pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(**_dataset, pipeline=test_pipeline))
test_evaluator = dict(type='SeedMetric', num_classes=num_classes)
val_dataloader = None
val_evaluator = None
