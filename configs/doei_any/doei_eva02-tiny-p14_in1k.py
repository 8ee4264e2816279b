# mmpretrain's EVA-02-Ti (RoPE attention) on ImageNet plus DOEI; the map DOEI
# reads has the rotary position embedding inside.
_base_ = ['mmpretrain::eva02/eva02-tiny-p14_in1k.py']
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
# The base's LoggerHook writes the test metrics JSON from every rank at once; ours from rank 0.
default_hooks = dict(logger=dict(type='MainProcessLoggerHook'))
# DOEI in the model itself (mmdoei.doei.model): every builder attaches it, a Runner as well
# as mmdoei's get_model/init_model and mmpretrain.get_model, which read only `model`. The
# host model keeps its class and state dict. (A DOEIHook in custom_hooks does the same
# inside a Runner only.)
model = dict(type='DOEIModel', model_type='ImageClassifier', doei=dict())
