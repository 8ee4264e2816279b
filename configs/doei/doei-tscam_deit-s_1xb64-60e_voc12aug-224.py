# DOEI + TS-CAM on VOC 2012: ../tscam/tscam_deit-s_1xb64-60e_voc12aug-224.py (the same bases and
# settings, which tests/test_configs checks) plus DOEI, its settings from ../_base_/doei.py.
_base_ = [
    '../_base_/models/tscam_deit-s.py',
    '../_base_/datasets/voc12aug_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
    '../_base_/doei.py',
]
model = dict(doei={{_base_.doei}})
# CAM generation: the authors' test protocol (one 224 x 224 pass, PIL bilinear, no flip,
# min-max of the raw maps, so relu off; docs/protocol.md). 5 scales: --cam-protocol ms5.
cam_gen = dict(_delete_=True, protocol='tscam', cam_cfg=dict(relu=False))
