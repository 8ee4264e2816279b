# TS-CAM (Gao et al., ICCV 2021) on PASCAL VOC 2012 (train_aug), DeiT-S.
#
# TS-CAM's authors published CUB-200 and ImageNet settings only (single-label,
# cross-entropy, AdamW lr 5e-5 / 5e-4, step decay); they have no VOC or COCO
# setting. As the closest, this uses MCTformer's VOC recipe (same DeiT-S
# backbone, same multi-label task): its data pipeline, AdamW 6.25e-5 with
# 5 warm-up epochs and cosine to 1e-5 over 60 epochs, batch 64 on one GPU,
# multilabel soft-margin loss, 224 crops.
_base_ = [
    '../_base_/datasets/voc12aug_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='TSCAM',
    num_classes=20,
    backbone=dict(
        # one class token, final norm applied: TS-CAM's DeiT-S (drop path 0.1 as the authors)
        arch='deit-small', img_size=224, patch_size=16, drop_path_rate=0.1,
        # the DeiT-S weights the authors load (deit.py, deit_tscam_small_patch16_224)
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth')),
    head=dict(loss='multilabel_soft_margin'),
    # CAM = class-token attention summed over all blocks x conv maps, clamped at 0
    cam_cfg=dict(relu=True),
)
# CAM generation: the authors' test protocol (one 224 x 224 pass, PIL bilinear, no flip,
# min-max of the raw maps, so relu off; docs/protocol.md). 5 scales: --cam-protocol ms5.
cam_gen = dict(protocol='tscam', cam_cfg=dict(relu=False))
