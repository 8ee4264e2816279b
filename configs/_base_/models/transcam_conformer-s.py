# TransCAM on Conformer-S, initialised from mmpretrain's Conformer-S ImageNet weights.
model = dict(
    type='TransCAM',
    num_classes=20,  # foreground only: the authors' 21st (background) output is never used
    backbone=dict(
        arch='small', drop_path_rate=0.1,
        # Conformer-S ImageNet weights. The authors load Conformer_small_patch16.pth
        # from the Conformer release (Google Drive only); mmpretrain's checkpoint
        # below is a conversion of that same file (its metafile names the Drive id),
        # and has a download URL. To use the release file: checkpoint='.../Conformer_small_patch16.pth'.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/conformer/'
                       'conformer-small-p16_3rdparty_8xb128_in1k_20211206-3065dcf5.pth')),
    # one multilabel soft-margin loss on the sum of both branches' logits, as the authors
    head=dict(loss=dict(type='MultiLabelSoftMarginLoss')),
    # the authors' default CAM (infer_TransCAM.py --method transcam)
    cam_cfg=dict(type='transcam', relu=True),
)
