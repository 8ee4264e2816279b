# TS-CAM (Gao et al., ICCV 2021) on PASCAL VOC 2012 (train_aug), DeiT-S.
#
# TS-CAM's authors published CUB-200 and ImageNet settings only (single-label,
# cross-entropy, AdamW lr 5e-5 / 5e-4, step decay); they have no VOC or COCO
# setting. As the closest, this uses MCTformer's VOC recipe (same DeiT-S
# backbone, same multi-label task): its data pipeline, AdamW 6.25e-5 with
# 5 warm-up epochs and cosine to 1e-5 over 60 epochs, batch 64 on one GPU,
# multilabel soft-margin loss, 224 crops, CAMs of five scales and their flips.
_base_ = [
    '../_base_/models/tscam_deit-s.py',
    '../_base_/datasets/voc12aug_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
]
# CAM generation: the authors' test protocol (one 224 x 224 pass, PIL bilinear, no flip,
# min-max of the raw maps, so relu off; docs/protocol.md). 5 scales: --cam-protocol ms5.
cam_gen = dict(_delete_=True, protocol='tscam', cam_cfg=dict(relu=False))
