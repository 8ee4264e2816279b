# mmpretrain's DeiT-base config plus DOEI (the MCTformer issue tracker reports
# DeiT-B collapsing under MCTformer; configs/mctformer has it as a config of ours).
_base_ = ['mmpretrain::deit/deit-base_16xb64_in1k.py']
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
# The base's LoggerHook writes the test metrics JSON from every rank at once; ours from rank 0.
default_hooks = dict(logger=dict(type='MainProcessLoggerHook'))
# A list replaces the base's, so its EMAHook is restated.
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
# DOEI in the model itself (mmdoei.doei.model): every builder attaches it, a Runner as well
# as mmdoei's get_model/init_model and mmpretrain.get_model, which read only `model`. The
# host model keeps its class and state dict. (A DOEIHook in custom_hooks does the same
# inside a Runner only.)
model = dict(type='DOEIModel', model_type='ImageClassifier', doei=dict())
