# mmseg's Segmenter (ViT-T, mask transformer head) on ADE20K plus DOEI: mmseg's
# VisionTransformer blocks use mmcv's MultiheadAttention.
_base_ = ['mmseg::segmenter/segmenter_vit-t_mask_8xb1-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
# The base's LoggerHook writes the test metrics JSON from every rank at once; ours from rank 0.
default_hooks = dict(logger=dict(type='MainProcessLoggerHook'))
# DOEI in the model itself (mmdoei.doei.model): every builder attaches it, a Runner as well
# as mmdoei's get_model/init_model and mmpretrain.get_model, which read only `model`. The
# host model keeps its class and state dict. (A DOEIHook in custom_hooks does the same
# inside a Runner only.)
model = dict(type='DOEIModel', model_type='EncoderDecoder', doei=dict())
