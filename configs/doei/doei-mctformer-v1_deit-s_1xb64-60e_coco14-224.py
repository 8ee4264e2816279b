# DOEI + MCTformer-V1 on COCO 2014, DOEI's settings from ../_base_/doei.py.
_base_ = ['../mctformer/mctformer-v1_deit-s_1xb64-60e_coco14-224.py', '../_base_/doei.py']
model = dict(doei={{_base_.doei}})
