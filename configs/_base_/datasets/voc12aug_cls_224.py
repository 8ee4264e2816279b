# VOC 2012 train_aug with the MCTformer authors' 224 recipe (pipelines/deit_224.py).
_base_ = ['./voc12aug_cls.py', './pipelines/deit_224.py']
train_dataloader = dict(dataset=dict(pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
