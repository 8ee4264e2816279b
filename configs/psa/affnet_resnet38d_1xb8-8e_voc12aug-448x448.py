# AffinityNet + random walk (PSA, Ahn and Kwak 2018) with the authors' settings, on the
# CAMs of stage 1. Set data_root (or tools/train.py --data-root) and the CAM folder:
#   train: --cfg-options train_dataloader.dataset.pipeline.1.cam_dir=DIR
#            train_dataloader.dataset.pipeline.1.cache_dir=DIR_psa_crf
#   masks: tools/psa_infer.py CONFIG CKPT --cam-dir DIR --out-dir MASKS
_base_ = [
    '../_base_/models/psa_affnet_resnet38d.py',
    '../_base_/datasets/psa_voc12aug.py',
    '../_base_/schedules/psa_sgd-poly_8e.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
# Check every CAM file (presence, classes, size) before training starts.
custom_hooks = [dict(type='CAMFolderCheckHook', progress=True)]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best=None),
                     visualization=dict(type='VisualizationHook', enable=False))
