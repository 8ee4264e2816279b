# DOEI + MCTformer-V2 on DeiT-B, VOC 2012: ../mctformer/mctformer-v2_deit-b_1xb64-60e_voc12aug-224.py
# (the same settings, which tests/test_configs checks) plus DOEI, its settings from ../_base_/doei.py.
# The DeiT-S DOEI config with the base backbone and its ImageNet weights.
_base_ = ['./doei-mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py']
model = dict(
    backbone=dict(
        arch='deit-base',
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth')))
