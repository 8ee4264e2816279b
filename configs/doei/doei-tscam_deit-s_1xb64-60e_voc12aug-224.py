# DOEI + TS-CAM. Every DOEI option is listed with its value (DOEI-SPEC.md;
# mmdoei.doei.DOEIConfig documents each). TS-CAM has one class token (C = 1),
# so CPDO is a no-op and only PPDO (with HFA) acts; the c2c keys are kept so
# that every DOEI config has the same keys.
_base_ = ['../tscam/tscam_deit-s_1xb64-60e_voc12aug-224.py']
model = dict(doei=dict(
    layers=None,            # K: blocks 1..K (None = all, the paper's best)
    st_p2c=0.01, af_p2c=0.5, sf_p2c=-0.1,   # PPDO: split, amplify, suppress
    st_c2c=0.01, af_c2c=0.5, sf_c2c=-0.1,   # CPDO (no-op with one class token)
    alpha=0.35,             # HFA weight (the paper's best)
    ppdo=True, cpdo=True, ppdo_suppress='self',
    in_train=True, detach_scores=False))
