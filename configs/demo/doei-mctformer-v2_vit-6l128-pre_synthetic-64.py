# The demo's DOEI run in the pretrained regime: the baseline plus DOEI with the
# defaults of mmdoei.doei.DOEIConfig, in training and CAM extraction.
_base_ = ['./mctformer-v2_vit-6l128-pre_synthetic-64.py']
model = dict(doei=dict())
