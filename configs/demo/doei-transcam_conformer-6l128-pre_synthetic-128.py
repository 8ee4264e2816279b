# TransCAM + DOEI in the pretrained regime (one class token: PPDO only).
_base_ = ['./transcam_conformer-6l128-pre_synthetic-128.py']
model = dict(doei=dict())
