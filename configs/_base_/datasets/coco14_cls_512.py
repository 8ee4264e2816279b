# COCO 2014 with the TransCAM authors' 512 recipe (pipelines/transcam_512.py).
_base_ = ['./coco14_cls.py', './pipelines/transcam_512.py']
train_dataloader = dict(batch_size={{_base_.batch_size}}, dataset=dict(pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(batch_size={{_base_.batch_size}}, dataset=dict(pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
