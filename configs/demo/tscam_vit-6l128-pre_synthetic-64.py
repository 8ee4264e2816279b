# TS-CAM in the pretrained regime: the same pretrained ViT as the MCTformer demo
# (one class token, final norm), fine-tuned on the synthetic VOC-layout set.
_base_ = ['./mctformer-v2_vit-6l128-pre_synthetic-64.py']
model = dict(
    _delete_=True,
    type='TSCAM',
    num_classes=20,
    backbone=dict(arch=dict(embed_dims=128, num_layers=6, num_heads=2, feedforward_channels=512),
                  img_size=64, patch_size=8, drop_path_rate=0.,
                  init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}})))
