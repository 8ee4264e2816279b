# DOEI's settings, every option with its value (docs/method.md; mmdoei.doei.DOEIConfig
# documents each). DOEI configs use it as `model = dict(doei={{_base_.doei}})`.
# With one class token (TS-CAM, TransCAM) CPDO is a no-op and only PPDO acts.
doei = dict(
    layers=None,                              # K: blocks 1..K (None = all, the paper's best)
    # The spec's provisional values; docs/results.md says why sf is not 0.
    st_p2c=0.01, af_p2c=0.5, sf_p2c=-0.1,     # PPDO: split, amplify, suppress
    st_c2c=0.01, af_c2c=0.5, sf_c2c=-0.1,     # CPDO
    alpha=0.35,                               # HFA weight (the paper's best)
    ppdo=True, cpdo=True, ppdo_suppress='self',
    in_train=True, detach_scores=False)
