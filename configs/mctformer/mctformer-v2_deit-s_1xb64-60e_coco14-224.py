# MCTformer-V2 on MS COCO 2014 (80 classes), the authors' run_coco.sh settings.
_base_ = [
    '../_base_/models/mctformer-v2_deit-s.py',
    '../_base_/datasets/coco14_cls_224.py',
    '../_base_/schedules/mctformer_adamw_60e.py',
    '../_base_/default_runtime.py',
]
model = dict(num_classes=80)
# CAM generation: the authors' run.sh protocol (scale 1.0 + flip, PIL bicubic, sum, min-max;
# mmdoei.cam.CAM_PROTOCOLS, docs/protocol.md). The DOEI paper's 5 scales: --cam-protocol ms5.
cam_gen = dict(_delete_=True, protocol='mctformer')
