# MCTformer-V1 (Xu et al., CVPR 2022), the authors' VOC 2012 settings.
_base_ = [
    '../_base_/models/mctformer-v1_deit-s.py',
    '../_base_/datasets/voc12aug_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
]
# CAM generation: the authors' run.sh protocol (scale 1.0 + flip, PIL bicubic, sum, min-max;
# mmdoei.cam.CAM_PROTOCOLS, docs/protocol.md). The DOEI paper's 5 scales: --cam-protocol ms5.
cam_gen = dict(_delete_=True, protocol='mctformer')
