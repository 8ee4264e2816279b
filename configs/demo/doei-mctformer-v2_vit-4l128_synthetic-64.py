# The demo's DOEI run: the baseline plus DOEI with the DOEIConfig defaults,
# in training and CAM extraction.
_base_ = ['./mctformer-v2_vit-4l128_synthetic-64.py']
model = dict(doei=dict())
