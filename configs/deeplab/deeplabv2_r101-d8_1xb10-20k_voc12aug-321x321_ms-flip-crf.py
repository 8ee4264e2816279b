# Test of the DeepLab-v2 ResNet-101: 5 scales + flip, maximum, dense CRF (deeplab-pytorch's values).
_base_ = ['./deeplabv2_r101-d8_1xb10-20k_voc12aug-321x321.py']
model = dict(_delete_=True, type={{_base_.tta_model.type}}, merge_mode={{_base_.tta_model.merge_mode}},
             crf={{_base_.tta_model.crf}}, module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
