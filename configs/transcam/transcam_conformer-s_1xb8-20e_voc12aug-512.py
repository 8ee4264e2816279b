# TransCAM (Li et al., JVCI 2023) on PASCAL VOC 2012 (train_aug), Conformer-S:
# the authors' train_TransCAM.py settings.
#   batch 8, 20 epochs, AdamW lr 5e-5, weight decay 5e-4 on every parameter,
#   eps 1e-8, constant learning rate; crops of 512 (../_base_/datasets/pipelines/transcam_512.py).
_base_ = [
    '../_base_/models/transcam_conformer-s.py',
    '../_base_/datasets/voc12aug_cls_512.py',
    '../_base_/schedules/transcam_adamw_20e.py',
    '../_base_/default_runtime.py',
]
# CAM generation: the authors' infer_TransCAM.py (squares 256/512/768, aspect not kept, PIL
# bicubic, flips; raw maps summed, the sum clamped at zero, then their min-max).
cam_gen = dict(_delete_=True, protocol='transcam', cam_cfg=dict(relu=False))
