# Test of the VOC DeepLab: scales 0.5, 0.75, 1.0, 1.25, 1.5 and their flips, maximum of the
# softmax maps (MCTformer's seg/infer_seg.py), dense CRF (its settings), mIoU on val:
#   python tools/test.py THIS work_dirs/deeplab/iter_79350.pth --data-root data/VOCdevkit/VOC2012
# The model is the training config's, wrapped in its tta_model; the pipeline its tta_pipeline.
_base_ = ['./deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py']
model = dict(_delete_=True, type={{_base_.tta_model.type}}, merge_mode={{_base_.tta_model.merge_mode}},
             crf={{_base_.tta_model.crf}}, module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
