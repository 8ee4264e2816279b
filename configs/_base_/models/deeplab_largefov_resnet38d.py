# DeepLab-v1 LargeFOV on ResNet-38d, the segmentation network of the DOEI paper
# (section 4.1) as MCTformer's seg/network/resnet38_seg.py builds it: ResNet-38d
# (output stride 8, 4096 channels), a 3x3 conv with dilation 12 to 512 channels,
# ReLU, a 3x3 classifier with dilation 12. The authors' resnet38d.Net.train()
# freezes the stem conv and every BN (statistics and affine), kept here.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # ImageNet mean/std on RGB 0..255 (MCTformer normalises (x / 255 - mean) / std).
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    # The authors pad the *normalised* crop with zeros (the mean colour) and the
    # label with 0, i.e. background, not 255 (seg/tool/exutils.py crop()).
    pad_val=0,
    seg_pad_val=0,
    size=(321, 321))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet38d',
        out_indices=(5, ),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        # ademxapp's ImageNet weights (ilsvrc-cls_rna-a1_cls1000_ep-0001.params) as PSA converts
        # them to torch; PSA key names are converted on load.
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/psa/ilsvrc-cls_rna-a1_cls1000_ep-0001.pth')),
    decode_head=dict(
        type='LargeFOVHead',
        in_channels=4096,
        channels=512,
        dilation=12,
        classifier_kernel_size=3,
        classifier_dilation=12,
        num_classes=21,
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
