# DeepLab-v1 LargeFOV on ResNet-38d trained on the pseudo masks of stage 2 (VOC 2012 train_aug),
# with the MCTformer authors' settings (the DOEI paper's table 2, "ResNet38"):
#   python tools/train.py THIS --data-root data/VOCdevkit/VOC2012 \
#       --cfg-options train_dataloader.dataset.pseudo_mask_dir=work_dirs/psa/masks
# Test with 5 scales + flip + dense CRF: tools/test.py THIS CKPT --tta.
_base_ = [
    '../_base_/models/deeplab_largefov_resnet38d.py',
    '../_base_/datasets/seg_voc12aug_pseudo.py',
    '../_base_/schedules/deeplab_largefov_sgd-poly.py',
    '../_base_/seg_runtime.py',
]
