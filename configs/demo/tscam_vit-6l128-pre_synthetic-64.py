# TS-CAM in the pretrained regime: the same pretrained ViT as the MCTformer demo
# (one class token, final norm), fine-tuned on the synthetic VOC-layout set.
_base_ = ['./mctformer-v2_vit-6l128-pre_synthetic-64.py']
model = dict(type='TSCAM', cam_cfg=dict(_delete_=True))  # TS-CAM's default CAM
