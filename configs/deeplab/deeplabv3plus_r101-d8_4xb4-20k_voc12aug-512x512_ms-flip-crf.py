# Test of the DeepLab-v3+ ResNet-101: 5 scales + flip (mean), dense CRF (the paper's settings).
_base_ = ['./deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py']
model = dict(_delete_=True, type={{_base_.tta_model.type}}, merge_mode={{_base_.tta_model.merge_mode}},
             crf={{_base_.tta_model.crf}}, module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
