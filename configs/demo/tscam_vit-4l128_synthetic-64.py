# The demo's TS-CAM baseline: the same 4-block, 128-channel ViT as the
# MCTformer demo (one class token, final norm), trained from scratch.
_base_ = ['./mctformer-v2_vit-4l128_synthetic-64.py']
model = dict(
    _delete_=True,
    type='TSCAM',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, num_layers=4, num_heads=2, feedforward_channels=512),
                  img_size=64, patch_size=8, drop_path_rate=0.))
