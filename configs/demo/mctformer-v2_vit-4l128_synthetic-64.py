# The demo's baseline: MCTformer-V2 at CPU scale on the synthetic VOC-layout
# set (tools/demo.py writes it): a 4-block, 128-channel ViT with 8 x 8 patches
# on 64 x 64 images, trained from scratch. At this scale plain class-token
# attention makes the best CAMs (docs/method.md, section 11, measured fused,
# patchcam and affinity refinement all lower), so the demo uses it.
_base_ = [
    '../_base_/datasets/voc12aug_cls_224.py',
    '../_base_/default_runtime.py',
]
data_root = 'demo_out/data/VOC2012/'
model = dict(
    type='MCTformerV2',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, num_layers=4, num_heads=2, feedforward_channels=512),
                  img_size=64, patch_size=8, drop_path_rate=0.),
    cam_cfg=dict(type='mct', last_n=3, refine=False))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=50, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Seeds of the train split (the paper scores seeds on VOC train).
cam_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, split='ImageSets/Segmentation/train.txt'))
cam_eval = dict(data_root=data_root)
cam_gen = dict(scales=(1.0, ), flip=True)

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                        custom_keys={'.cls_token': dict(decay_mult=0.0),
                                                     '.pos_embed': dict(decay_mult=0.0)}))
max_epochs = 60
param_scheduler = [dict(type='OneCycleLR', eta_max=1e-3, total_steps=None, by_epoch=True,
                        convert_to_iter_based=True, pct_start=0.1, end=max_epochs)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
# Reproducible by construction: no data workers (augmentation in the main
# process, from the seeded generators), deterministic algorithms
# (mmdoei.apis.experiment.stage1_cfg sets randomness per run) and a fixed
# thread count, so a run repeats bit for bit on one kind of machine.
default_hooks = dict(logger=dict(interval=25),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None),
                     num_threads=dict(type='NumThreadsHook', num_threads=2))
randomness = dict(seed=0, deterministic=True)
