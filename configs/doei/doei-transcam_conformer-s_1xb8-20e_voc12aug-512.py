# DOEI + TransCAM on VOC 2012, DOEI's settings from ../_base_/doei.py.
# DOEI acts on the outputs of Conformer's 12 transformer blocks (trans_1 and
# conv_trans_2..12.trans_block), which then also feed the CNN branch through the
# coupling units; HFA reads the patch embedding trans_patch_conv.
_base_ = ['../transcam/transcam_conformer-s_1xb8-20e_voc12aug-512.py', '../_base_/doei.py']
model = dict(doei={{_base_.doei}})
