# mmpretrain's EVA-02-Ti (RoPE attention) on ImageNet plus DOEI; the map DOEI
# reads has the rotary position embedding inside.
_base_ = ['mmpretrain::eva02/eva02-tiny-p14_in1k.py']
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
custom_hooks = [dict(type='DOEIHook')]
