# MCTformer-V2 on DeiT-S, initialised from the DeiT-S ImageNet weights the authors use.
model = dict(
    type='MCTformerV2',
    num_classes=20,
    backbone=dict(
        arch='deit-small', img_size=224, patch_size=16, drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth')),
    # The authors' loss on the class-token and the patch logits.
    head=dict(loss=dict(type='MultiLabelSoftMarginLoss')),
    # The authors' CAM settings (run.sh): fused CAMs of the last 3 blocks, refined
    # by the patch-to-patch attention.
    cam_cfg=dict(type='fused', last_n=3, refine=True),
)
