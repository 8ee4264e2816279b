# Test of the CPU-scale DeepLab: 5 scales + flip, maximum, dense CRF (the real settings).
_base_ = ['./deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py']
model = dict(_delete_=True, type={{_base_.tta_model.type}}, merge_mode={{_base_.tta_model.merge_mode}},
             crf={{_base_.tta_model.crf}}, module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
