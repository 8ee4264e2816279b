# The demo's DOEI run: the baseline plus DOEI with the defaults of DOEI-SPEC.md,
# in training and CAM extraction.
_base_ = ['./mctformer-v2_vit-4l128_synthetic-64.py']
model = dict(doei=dict())
