# TS-CAM + DOEI with the DOEIConfig defaults (one class token: PPDO only).
_base_ = ['./tscam_vit-4l128_synthetic-64.py']
model = dict(doei=dict())
