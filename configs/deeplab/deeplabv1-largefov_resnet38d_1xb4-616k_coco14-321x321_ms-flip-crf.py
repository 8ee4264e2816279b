# Test of the COCO DeepLab on val2014: 5 scales + flip, maximum, dense CRF; mIoU over 81 classes.
_base_ = ['./deeplabv1-largefov_resnet38d_1xb4-616k_coco14-321x321.py']
model = dict(_delete_=True, type={{_base_.tta_model.type}}, merge_mode={{_base_.tta_model.merge_mode}},
             crf={{_base_.tta_model.crf}}, module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
