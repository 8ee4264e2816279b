# TS-CAM + DOEI in the pretrained regime (one class token: PPDO only).
_base_ = ['./tscam_vit-6l128-pre_synthetic-64.py']
model = dict(doei=dict())
