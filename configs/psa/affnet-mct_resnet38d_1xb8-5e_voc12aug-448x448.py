# PSA as the MCTformer authors run it after their CAMs (MCTformer/run_psa.sh and the
# defaults of their psa/ copy), the pipeline behind the DOEI paper's MCTformer masks:
# CRF labels at alpha 1 / 12, lr 0.01 for 5 epochs, initialised from PSA's VOC-trained
# classifier res38_cls.pth, random walk with logt 6 and a constant background score 0.39
# (their best seed threshold; use yours).
_base_ = ['./affnet_resnet38d_1xb8-8e_voc12aug-448x448.py']
# PSA's steps with MCTformer's CRF label settings and cache folder.
train_pipeline = [dict(t, low_alpha=1, high_alpha=12, cache_dir=t['cam_dir'] + '_mct_crf')
                  if t['type'] == 'LoadAffinityLabelFromCAM' else t for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='checkpoints/psa/res38_cls.pth')),
    test_cfg=dict(logt=6, bg_threshold=0.39))
optim_wrapper = dict(optimizer=dict(lr=0.01))
max_epochs = 5
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
