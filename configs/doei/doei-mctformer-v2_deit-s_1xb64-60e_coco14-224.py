_base_ = ['../mctformer/mctformer-v2_deit-s_1xb64-60e_coco14-224.py']
model = dict(doei=dict(layers=None, st_p2c=0.01, af_p2c=0.5, sf_p2c=-0.1, st_c2c=0.01,
                       af_c2c=0.5, sf_c2c=-0.1, alpha=0.35, ppdo=True, cpdo=True,
                       ppdo_suppress='self', in_train=True, detach_scores=False))
