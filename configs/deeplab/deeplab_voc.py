# Entry point: the DOEI paper's segmentation network on VOC 2012 pseudo masks.
#   bash tools/dist_train.sh configs/deeplab/deeplab_voc.py 4 --data-root data/VOCdevkit/VOC2012 \
#       --cfg-options train_dataloader.dataset.pseudo_mask_dir=work_dirs/psa/masks
_base_ = ['./deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py']
