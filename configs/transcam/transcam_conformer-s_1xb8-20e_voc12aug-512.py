# TransCAM (Li et al., JVCI 2023) on PASCAL VOC 2012 (train_aug), Conformer-S:
# the authors' train_TransCAM.py settings.
#   batch 8, 20 epochs, AdamW lr 5e-5, weight decay 5e-4 on every parameter,
#   eps 1e-8, constant learning rate; crops of 512.
_base_ = [
    '../_base_/datasets/voc12aug_cls_224.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='TransCAM',
    num_classes=20,  # foreground only: the authors' 21st (background) output is never used
    backbone=dict(
        arch='small', drop_path_rate=0.1,
        # Conformer-S ImageNet weights. The authors load Conformer_small_patch16.pth
        # from the Conformer release (Google Drive only); mmpretrain's checkpoint
        # below is a conversion of that same file (its metafile names the Drive id),
        # and has a download URL. To use the release file: checkpoint='.../Conformer_small_patch16.pth'.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/conformer/'
                       'conformer-small-p16_3rdparty_8xb128_in1k_20211206-3065dcf5.pth')),
    # the authors' default CAM (infer_TransCAM.py --method transcam)
    cam_cfg=dict(type='transcam', relu=True),
)

# train_TransCAM.py: RandomResizeLong(320, 640) -> HFlip -> ColorJitter(0.3, 0.3, 0.3, 0.1)
# -> Normalize -> RandomCrop(512) padding with zeros after normalisation, i.e. with the
# mean colour before it. mmpretrain's crop centres a too-small image in the padding
# where the authors' places it at random; otherwise the same.
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
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
# The authors do not validate; the mAP check of the MCTformer configs is kept.
val_dataloader = dict(batch_size=8)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=5e-4, eps=1e-8, betas=(0.9, 0.999)))
param_scheduler = []  # constant learning rate
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=8)

# CAM generation. The authors resize every image to squares of 256, 512 and 768
# (aspect not kept) plus flips, sum, clamp the sum at zero; the CAM tool uses
# scale factors of the image's own size instead: 0.5, 1.0, 1.5 of a ~500 x 375
# VOC image cover about the same range.
cam_gen = dict(scales=(0.5, 1.0, 1.5), flip=True)
