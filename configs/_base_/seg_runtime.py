# Runtime of the segmentation stage (mmseg scope): iteration-based logging and
# checkpoints, mmseg's visualiser, and the mmdoei components of stage 3.
default_scope = 'mmseg'
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # MainProcessLoggerHook: mmengine's LoggerHook, test metrics JSON written by rank 0 only.
    logger=dict(type='MainProcessLoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
# ReseedHook: a resumed run draws the random numbers an uninterrupted one would.
custom_hooks = [dict(type='ReseedHook')]
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPUs; without a GPU mmdoei switches torchrun runs to gloo.
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
