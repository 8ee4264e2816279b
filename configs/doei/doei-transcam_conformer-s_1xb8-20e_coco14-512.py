# DOEI + TransCAM on COCO 2014: ../transcam/transcam_conformer-s_1xb8-20e_coco14-512.py (the same bases and
# settings, which tests/test_configs checks) plus DOEI, its settings from ../_base_/doei.py.
# DOEI acts on the outputs of Conformer's 12 transformer blocks (trans_1 and
# conv_trans_2..12.trans_block), which then also feed the CNN branch through the
# coupling units; HFA reads the patch embedding trans_patch_conv.
_base_ = [
    '../_base_/models/transcam_conformer-s.py',
    '../_base_/datasets/coco14_cls_512.py',
    '../_base_/schedules/transcam_adamw_20e.py',
    '../_base_/default_runtime.py',
    '../_base_/doei.py',
]
model = dict(num_classes=80, doei={{_base_.doei}})
# CAM generation: the authors' infer_TransCAM.py (squares 256/512/768, aspect not kept, PIL
# bicubic, flips; raw maps summed, the sum clamped at zero, then their min-max).
cam_gen = dict(_delete_=True, protocol='transcam', cam_cfg=dict(relu=False))
