# DeepLab-v2 on ResNet-101 (output stride 8), the "ResNet101" segmentation network of most WSSS
# methods in the DOEI paper's table 2: ASPP as four dilated 3x3 classifiers (6, 12, 18, 24)
# whose logits are summed, every BN frozen (kazuto1011/deeplab-pytorch, its voc12.yaml config).
# mmseg's ResNetV1c-101 with its ImageNet weights; deeplab-pytorch starts from the authors'
# COCO-pretrained caffe model, which mmseg does not ship.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(321, 321))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='ASPPV2Head',
        in_channels=2048,
        in_index=0,
        channels=2048,  # unused: the branches classify directly
        dilations=(6, 12, 18, 24),
        num_classes=21,
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
