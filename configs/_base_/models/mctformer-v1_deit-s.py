_base_ = ['./mctformer-v2_deit-s.py']
model = dict(type='MCTformerV1', cam_cfg=dict(_delete_=True, last_n=3, refine=True))
