# TransCAM + DOEI with the defaults of DOEI-SPEC.md (one class token: PPDO only).
_base_ = ['./transcam_conformer-6l128_synthetic-128.py']
model = dict(doei=dict())
