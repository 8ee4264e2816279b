# DeepLab-v2 ResNet-101 on the VOC 2012 pseudo masks, the other backbone of the DOEI paper's
# table 2, with deeplab-pytorch's VOC schedule (its voc12.yaml): batch 10 (5 x 2
# accumulated there), crop 321, SGD lr 2.5e-4 (ASPP 10x), momentum 0.9, weight decay 5e-4,
# poly 0.9, 20k iterations; scales 0.5..1.5 (there a random choice of five, here uniform);
# CRF of its test: 10 iterations, Gaussian sxy 1 / compat 3, bilateral sxy 67 / srgb 3 / compat 4.
# Their model also trains on 0.5x and 0.75x inputs (MSC); not reproduced.
_base_ = [
    '../_base_/models/deeplab_v2_r101-d8.py',
    '../_base_/datasets/seg_voc12aug_pseudo.py',
    '../_base_/seg_runtime.py',
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPseudoMask', num_classes=21),
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=(321, 321)),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=10, dataset=dict(pipeline=train_pipeline))
tta_model = dict(crf=dict(iterations=10, gaussian_sxy=1, gaussian_compat=3, bilateral_sxy=67, bilateral_srgb=3,
                          bilateral_compat=4))
max_iters = 20000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}, bias_lr_mult=2.0, bias_decay_mult=0.0))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
