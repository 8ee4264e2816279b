# A tiny ViT classifier with DOEI mixed in by the hook; trains in seconds on the
# CPU. Tests point data_root at a generated ImageNet-style folder.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
custom_hooks = [dict(type='DOEIHook', st_p2c=0.05)]

data_root = 'data/tiny'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', img_size=32, patch_size=8,
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)),
    head=dict(type='VisionTransformerClsHead', num_classes=2, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(num_classes=2, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=32), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='CustomDataset', data_root=data_root, pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, T_max=400)]
train_cfg = dict(by_epoch=False, max_iters=400)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=10, by_epoch=False, max_keep_ckpts=2))
# nccl as on a GPU cluster: mmdoei switches to gloo when there is no GPU.
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0)
log_level = 'INFO'
