# MCTformer-V1 on DeiT-S, initialised from the DeiT-S ImageNet weights the authors use
# (the backbone and loss of mctformer-v2_deit-s.py; V1 has no patch classifier).
model = dict(
    type='MCTformerV1',
    num_classes=20,
    backbone=dict(
        arch='deit-small', img_size=224, patch_size=16, drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth')),
    # The authors' loss on the class-token logits.
    head=dict(loss=dict(type='MultiLabelSoftMarginLoss')),
    # The authors' CAM settings (run.sh): the class-to-patch attention of the last 3
    # blocks, refined by the patch-to-patch attention.
    cam_cfg=dict(last_n=3, refine=True),
)
