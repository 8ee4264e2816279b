# Runtime of the pseudo-label stage (PSA): the stage-1 runtime, the stage-2 components,
# a check of every CAM file (presence, classes, size) before training starts, and one
# checkpoint kept.
_base_ = ['./default_runtime.py']
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
# ReseedHook: a resumed run draws the random numbers an uninterrupted one would.
custom_hooks = [dict(type='CAMFolderCheckHook', progress=True), dict(type='ReseedHook')]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best=None),
                     visualization=dict(type='VisualizationHook', enable=False))
