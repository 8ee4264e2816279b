# Entry point: the DOEI paper's segmentation network on COCO 2014 pseudo masks (81 classes).
_base_ = ['./deeplabv1-largefov_resnet38d_1xb4-616k_coco14-321x321.py']
