# MCTformer-V2 on DeiT-B: the DeiT-S config with the base backbone and its ImageNet
# weights (the MCTformer issue tracker reports DeiT-B runs collapsing; this config
# is there to study that). The head's width follows the backbone (768).
_base_ = ['./mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py']
model = dict(
    backbone=dict(
        arch='deit-base',
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth')))
