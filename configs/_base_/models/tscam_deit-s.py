# TS-CAM (Gao et al., ICCV 2021) on DeiT-S: MCTformer's DeiT-S with one class token and
# the final norm applied (TS-CAM's DeiT-S, drop path 0.1 as the authors), the same
# weights (deit.py, deit_tscam_small_patch16_224), a conv head on the patch tokens
# trained with the multilabel soft-margin loss (the authors' cross-entropy is for their
# single-label CUB and ImageNet: head=dict(loss='cross_entropy')).
model = dict(
    type='TSCAM',
    num_classes=20,
    backbone=dict(
        arch='deit-small', img_size=224, patch_size=16, drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth')),
    head=dict(loss=dict(type='MultiLabelSoftMarginLoss')),
    # CAM = class-token attention summed over all blocks x conv maps, clamped at 0
    cam_cfg=dict(relu=True),
)
