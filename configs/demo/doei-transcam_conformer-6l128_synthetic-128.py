# TransCAM + DOEI with the DOEIConfig defaults (one class token: PPDO only).
_base_ = ['./transcam_conformer-6l128_synthetic-128.py']
model = dict(doei=dict())
