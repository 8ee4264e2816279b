# mmseg's own DeepLab-v3+ ResNet-101 VOC recipe (4 GPUs x 4, crop 512, SyncBN, 20k iterations,
# its augmentations), trained on the stage-2 pseudo masks instead of the SBD ground truth;
# validation on the real val masks; tested with 5 scales + flip (mean, mmseg's merge) + CRF.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
# The base's LoggerHook writes the test metrics JSON from every rank at once; ours from rank 0.
default_hooks = dict(logger=dict(type='MainProcessLoggerHook'))
data_root = 'data/VOCdevkit/VOC2012/'
pseudo_mask_dir = 'work_dirs/pseudo_masks/voc12_train_aug'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPseudoMask', num_classes=21),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(_delete_=True, type='VOCPseudoMaskDataset', data_root=data_root,
                 ann_file='ImageSets/Segmentation/train_aug.txt', data_prefix=dict(img_path='JPEGImages'),
                 pseudo_mask_dir=pseudo_mask_dir, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
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
tta_model = dict(type='CRFSegTTAModel', merge_mode='mean', crf=dict())
