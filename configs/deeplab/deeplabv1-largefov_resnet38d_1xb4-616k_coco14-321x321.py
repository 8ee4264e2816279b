# DeepLab-v1 LargeFOV on ResNet-38d on the COCO 2014 pseudo masks (81 classes), the DOEI
# paper's table 3. The MCTformer repository has no COCO segmentation script; this keeps its
# VOC recipe (crop 321, batch 4, lr 7e-4, head 10x, poly) and its length in epochs:
# 30 * (82,081 // 4) = 615,600 iterations. That length is our extrapolation, not an
# author setting.
_base_ = [
    '../_base_/models/deeplab_largefov_resnet38d.py',
    '../_base_/datasets/seg_coco14_pseudo.py',
    '../_base_/schedules/deeplab_largefov_sgd-poly.py',
    '../_base_/seg_runtime.py',
]
model = dict(decode_head=dict(num_classes=81))
max_iters = 615600
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=20000))
