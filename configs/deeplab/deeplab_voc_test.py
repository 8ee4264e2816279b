# Entry point: its test, 5 scales + flip + dense CRF, mIoU on VOC 2012 val.
#   bash tools/dist_test.sh configs/deeplab/deeplab_voc_test.py work_dirs/deeplab_voc/iter_79350.pth 4 \
#       --data-root data/VOCdevkit/VOC2012
_base_ = ['./deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321_ms-flip-crf.py']
