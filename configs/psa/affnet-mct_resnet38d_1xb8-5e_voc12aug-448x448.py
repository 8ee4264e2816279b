# PSA as the MCTformer authors run it after their CAMs (MCTformer/run_psa.sh and the
# defaults of their psa/ copy), the pipeline behind the DOEI paper's MCTformer masks:
# CRF labels at alpha 1 / 12, lr 0.01 for 5 epochs, initialised from PSA's VOC-trained
# classifier res38_cls.pth, random walk with logt 6 and a constant background score 0.39
# (their best seed threshold; use yours).
_base_ = ['./affnet_resnet38d_1xb8-8e_voc12aug-448x448.py']
cam_dir = 'work_dirs/cams/voc12_train_aug'
crop_size = 448
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAffinityLabelFromCAM', cam_dir=cam_dir, low_alpha=1, high_alpha=12, num_classes=21,
         cache_dir=cam_dir + '_mct_crf'),
    # PSA's jitter: torchvision's ColorJitter on the RGB image (mmcv's adjust_hue fails on
    # negative hues under numpy 2).
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='mmseg.RandomCrop', crop_size=(crop_size, crop_size)),
    dict(type='RandomPad', size=crop_size, img_pad_val=[104, 116, 124], seg_pad_val=dict(aff_scores=0)),
    dict(type='mmseg.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PoolAffinityLabel', stride=8),
    dict(type='PackInputs', algorithm_keys=['gt_aff_label'], meta_keys=['img_id', 'img_path', 'img_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='checkpoints/psa/res38_cls.pth')),
    test_cfg=dict(logt=6, bg_threshold=0.39))
optim_wrapper = dict(optimizer=dict(lr=0.01))
max_epochs = 5
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
