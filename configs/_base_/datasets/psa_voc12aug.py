# Pseudo-label stage (PSA) on PASCAL VOC 2012 + SBD (train_aug, 10,582 images).
# Reads the stage-1 CAM files ({img_id}.npz) from cam_dir. Train: AffinityNet's labels
# from the CAMs (dense CRF at low/high alpha, cached next to the CAMs), PSA's augmentation
# (colour jitter, 448 crop in a mean-colour container, flip). Test: random walk of every
# train_aug image's CAMs, masks scored with the seed metric (mask mode) against
# SegmentationClassAug; the paper's "Mask" column is the train split (1,464 images):
# tools/analysis_tools/eval_seeds.py --pred-dir ... --split ImageSets/Segmentation/train.txt.
dataset_type = 'VOCWSSSDataset'
data_root = 'data/VOCdevkit/VOC2012/'
num_classes = 21  # with background
cam_dir = 'work_dirs/cams/voc12_train_aug'
crop_size = 448
bgr_mean = [103.53, 116.28, 123.675]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # PSA: low alpha 4 (confident foreground), high alpha 32 (confident background).
    dict(type='LoadAffinityLabelFromCAM', cam_dir=cam_dir, low_alpha=4, high_alpha=32, num_classes=num_classes,
         cache_dir=cam_dir + '_psa_crf'),
    # PSA's jitter: torchvision's ColorJitter on the RGB image (mmcv's adjust_hue fails on
    # negative hues under numpy 2).
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='mmseg.RandomCrop', crop_size=(crop_size, crop_size)),
    # PSA zero-pads the normalised image: the mean colour before normalisation.
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

# One dataset, two loaders (psa_coco14.py changes it).
psa_dataset = dict(type=dataset_type, data_root=data_root, split='ImageSets/Segmentation/train_aug.txt')
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # as PSA
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(psa_dataset, pipeline=train_pipeline))
# One image per batch: PSA walks each image on its own padded grid.
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(psa_dataset, pipeline=test_pipeline))
test_evaluator = dict(type='SeedMetric', num_classes=num_classes)
val_dataloader = None
val_evaluator = None
