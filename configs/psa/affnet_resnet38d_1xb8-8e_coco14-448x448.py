# AffinityNet + random walk (PSA settings) on MS COCO 2014 train. Set data_root and the
# CAM folder as in affnet_resnet38d_1xb8-8e_voc12aug-448x448.py.
_base_ = [
    '../_base_/models/psa_affnet_resnet38d.py',
    '../_base_/datasets/psa_coco14.py',
    '../_base_/schedules/psa_sgd-poly_8e.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
custom_hooks = [dict(type='CAMFolderCheckHook', progress=True)]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best=None),
                     visualization=dict(type='VisualizationHook', enable=False))
