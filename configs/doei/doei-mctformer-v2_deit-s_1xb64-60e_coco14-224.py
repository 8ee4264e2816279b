# DOEI + MCTformer-V2 on COCO 2014: ../mctformer/mctformer-v2_deit-s_1xb64-60e_coco14-224.py (the same bases and
# settings, which tests/test_configs checks) plus DOEI, its settings from ../_base_/doei.py.
_base_ = [
    '../_base_/models/mctformer-v2_deit-s.py',
    '../_base_/datasets/coco14_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
    '../_base_/doei.py',
]
model = dict(num_classes=80, doei={{_base_.doei}})
# CAM generation: the authors' run.sh protocol (scale 1.0 + flip, PIL bicubic, sum, min-max;
# mmdoei.cam.CAM_PROTOCOLS, docs/protocol.md). The DOEI paper's 5 scales: --cam-protocol ms5.
cam_gen = dict(_delete_=True, protocol='mctformer')
