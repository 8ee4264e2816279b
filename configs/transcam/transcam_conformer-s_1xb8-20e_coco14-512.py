# TransCAM on MS COCO 2014 (80 classes), Conformer-S. The TransCAM authors
# publish VOC code only; this uses their VOC recipe unchanged (batch 8,
# 20 epochs, AdamW 5e-5, crops of 512) on COCO's train2014.
_base_ = [
    '../_base_/models/transcam_conformer-s.py',
    '../_base_/datasets/coco14_cls_512.py',
    '../_base_/schedules/transcam_adamw_20e.py',
    '../_base_/default_runtime.py',
]
model = dict(num_classes=80)
# CAM generation: the authors' infer_TransCAM.py (squares 256/512/768, aspect not kept, PIL
# bicubic, flips; raw maps summed, the sum clamped at zero, then their min-max).
cam_gen = dict(_delete_=True, protocol='transcam', cam_cfg=dict(relu=False))
