# PASCAL VOC 2012 for the segmentation stage: train on the stage-2 pseudo masks of the
# train_aug images (10,582), validate and test on the real val masks (1,449) with mmseg's
# IoUMetric. Only data_root and pseudo_mask_dir change between the synthetic and the real
# data (tools/train.py --data-root DIR --cfg-options train_dataloader.dataset.pseudo_mask_dir=DIR).
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012/'
num_classes = 21
# Stage 2's random-walk masks ({img_id}.png). A relative path is relative to the working
# directory (like work_dir), an absolute one is taken as is.
pseudo_mask_dir = 'work_dirs/pseudo_masks/voc12_train_aug'
crop_size = (321, 321)

# MCTformer's seg/tool/exutils.py: scale by U(0.7, 1.3), flip, (normalise,) random crop
# 321 padded with the mean colour and label 0 (the padding is done by the data
# preprocessor, see _base_/models/deeplab_largefov_resnet38d.py).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # Stage 2's loader: checks size and class ids of each mask and names the file on error.
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
# The paper's test: scales 0.5 ... 1.5 of the whole image, each also flipped, then a dense
# CRF. MCTformer's seg/infer_seg.py takes the maximum of the softmax maps over scales.
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
        type='VOCPseudoMaskDataset',
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(img_path='JPEGImages'),
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
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
