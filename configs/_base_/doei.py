# DOEI's settings for configs: every option of mmdoei.doei.DOEIConfig (which documents
# each; docs/method.md, section 6) with its default, read from that class, so the
# defaults live in one place and a config still spells out the values it runs with
# (a dumped config records them). DOEI configs use it as `model = dict(doei={{_base_.doei}})`.
# num_class_tokens is left out: it is the host model's (None takes the backbone's count).
# With one class token (TS-CAM, TransCAM) CPDO is a no-op and only PPDO acts.
# importlib rather than an `import mmdoei...` line: mmengine reads a config with such a
# line as its new (lazy-import) format, which cannot be a `_base_` of these configs.
import importlib

DOEIConfig = importlib.import_module('mmdoei.doei.config').DOEIConfig
doei = {k: v for k, v in DOEIConfig().to_dict().items() if k != 'num_class_tokens'}
del DOEIConfig  # a class is no config value
