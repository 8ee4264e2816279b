# AffinityNet (PSA, Ahn and Kwak 2018) on ResNet-38d, as the authors train it:
# every BN frozen, the stem and the first stage frozen, the fusion head new.
model = dict(
    type='AffinityNet',
    # PSA normalises with the ImageNet mean/std and zero-pads the normalised
    # image to a multiple of 8 (right/bottom).
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        pad_size_divisor=8,
        pad_value=0),
    backbone=dict(
        type='ResNet38d',
        out_indices=(2, 3, 5),  # PSA's conv4, conv5, conv6: 512, 1024, 4096 channels at stride 8
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        # PSA's ImageNet weights: ademxapp's ilsvrc-cls_rna-a1_cls1000_ep-0001.params turned into a
        # torch state dict by PSA's convert_mxnet_to_torch (PSA key names are converted on load;
        # tools/model_converters/psa_resnet38_to_mmdoei.py writes our names).
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/psa/ilsvrc-cls_rna-a1_cls1000_ep-0001.pth')),
    head=dict(type='AffinityHead', in_channels=(512, 1024, 4096), channels=(64, 128, 256), out_channels=448),
    radius=5,
    stride=8,
    # Random walk (psa/infer_aff.py): beta 8, logt 8 (t = 256), background (1 - max cam) ** 16.
    test_cfg=dict(beta=8, logt=8, alpha=16, bg_threshold=None))
