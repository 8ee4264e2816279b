# Runtime of the demo's stage-1 configs: the stage-1 runtime, reproducible by
# construction: deterministic algorithms (mmdoei.apis.pipeline.stage1_cfg sets
# randomness per run) and a fixed thread count, so with the data loaded in the main
# process (../datasets/synthvoc_cls_64.py) a run repeats bit for bit on one kind of
# machine. One checkpoint is kept; the configs save it at the end of their schedule.
_base_ = ['./default_runtime.py']
default_hooks = dict(logger=dict(interval=25),
                     checkpoint=dict(max_keep_ckpts=1, save_best=None),
                     num_threads=dict(type='NumThreadsHook', num_threads=2))
randomness = dict(seed=0, deterministic=True)
