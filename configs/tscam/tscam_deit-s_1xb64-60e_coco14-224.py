# TS-CAM on MS COCO 2014 (80 classes), DeiT-S. The TS-CAM authors have no COCO
# setting; as for VOC this uses MCTformer's recipe (its run_coco.sh: the same
# schedule and batch as on VOC).
_base_ = [
    '../_base_/models/tscam_deit-s.py',
    '../_base_/datasets/coco14_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
]
model = dict(num_classes=80)
# CAM generation: the authors' test protocol (one 224 x 224 pass, PIL bilinear, no flip,
# min-max of the raw maps, so relu off; docs/protocol.md). 5 scales: --cam-protocol ms5.
cam_gen = dict(_delete_=True, protocol='tscam', cam_cfg=dict(relu=False))
