# Entry point: its test, 5 scales + flip + dense CRF, mIoU on COCO 2014 val.
_base_ = ['./deeplabv1-largefov_resnet38d_1xb4-616k_coco14-321x321_ms-flip-crf.py']
