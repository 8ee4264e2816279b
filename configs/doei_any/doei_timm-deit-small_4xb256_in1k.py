# mmpretrain's DeiT-small config on timm's DeiT-S (any timm ViT name works, with
# its timm checkpoint) through mmpretrain's TIMMBackbone, plus DOEI.
# TIMMBackbone returns every token (it resets timm's pooling), so a neck picks
# the class token for mmpretrain's head.
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py']
# DOEI in the model itself (mmdoei.doei.model): every builder attaches it, a Runner as well
# as mmdoei's get_model/init_model and mmpretrain.get_model, which read only `model`. The
# host model keeps its class and state dict. (A DOEIHook in custom_hooks does the same
# inside a Runner only.)
model = dict(
    type='DOEIModel', model_type='ImageClassifier', doei=dict(),
    backbone=dict(_delete_=True, type='TIMMBackbone', model_name='deit_small_patch16_224',
                  pretrained=True),
    neck=dict(_delete_=True, type='ClassTokenNeck'))
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
# The base's LoggerHook writes the test metrics JSON from every rank at once; ours from rank 0.
default_hooks = dict(logger=dict(type='MainProcessLoggerHook'))
