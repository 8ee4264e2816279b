# TS-CAM on MS COCO 2014 (80 classes), DeiT-S. The TS-CAM authors have no COCO
# setting; as for VOC this uses MCTformer's recipe (its run_coco.sh: the same
# schedule and batch as on VOC).
_base_ = [
    '../_base_/datasets/coco14_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='TSCAM',
    num_classes=80,
    backbone=dict(
        arch='deit-small', img_size=224, patch_size=16, drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth')),
    head=dict(loss='multilabel_soft_margin'),
    cam_cfg=dict(relu=True),
)
# CAM generation: the authors' test protocol (one 224 x 224 pass, PIL bilinear, no flip,
# min-max of the raw maps, so relu off; docs/protocol.md). 5 scales: --cam-protocol ms5.
cam_gen = dict(protocol='tscam', cam_cfg=dict(relu=False))
