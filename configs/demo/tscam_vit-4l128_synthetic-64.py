# The demo's TS-CAM baseline: the same 4-block, 128-channel ViT as the
# MCTformer demo (one class token, final norm), trained from scratch.
_base_ = ['./mctformer-v2_vit-4l128_synthetic-64.py']
model = dict(type='TSCAM', cam_cfg=dict(_delete_=True))  # TS-CAM's default CAM
