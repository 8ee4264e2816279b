# DOEI + MCTformer-V2 on DeiT-B, VOC 2012; DOEI's settings from ../_base_/doei.py.
_base_ = ['../mctformer/mctformer-v2_deit-b_1xb64-60e_voc12aug-224.py', '../_base_/doei.py']
model = dict(doei={{_base_.doei}})
