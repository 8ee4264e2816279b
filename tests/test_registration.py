"""``import mmdoei`` registers classes (at the first registry lookup) and the safe checkpoint loaders, and changes
nothing else.

Run in a fresh interpreter: tests in this session may have applied
:func:`mmdoei.setup_env` in-process (the ``mmdoei_setup_env`` fixture).
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent('''
    import json, sys
    import torch
    import mmengine.dist.utils as dist_utils
    import mmpretrain.registry, mmseg.registry  # noqa: F401  (their registries exist before mmdoei)
    from mmengine.config import Config
    from mmengine.registry import Registry
    from mmengine.runner import Runner

    def registries():
        import gc
        return [r for r in gc.get_objects() if isinstance(r, Registry)]

    import mmengine.runner.checkpoint as mm_ckpt
    wrap_model, init_dist = Runner.wrap_model, dist_utils._init_dist_pytorch
    schemes, load_from_http = dict(mm_ckpt.CheckpointLoader._schemes), mm_ckpt.load_from_http
    before = {(r.scope, r.name): dict(r.module_dict) for r in registries()}

    cfg = Config.fromfile(sys.argv[1])  # custom_imports=['mmdoei'] runs here

    import mmdoei
    from mmengine.registry import HOOKS
    HOOKS.get('DOEIHook')  # the first lookup by name imports mmdoei's classes (mmdoei.register_lazily)
    from mmdoei.utils.compat import checkpoint_safe_globals
    ours = checkpoint_safe_globals()  # what setup_env allow-lists for mmengine's checkpoints
    changed = [f'{scope}.{name}: {key}' for r in registries() for (scope, name) in [(r.scope, r.name)]
               for key, obj in before.get((scope, name), {}).items() if r.module_dict.get(key) is not obj]
    added = sorted(f'{r.scope}.{r.name}.{k}' for r in registries() for k, v in r.module_dict.items()
                   if getattr(v, '__module__', '').startswith('mmdoei.'))
    result = dict(wrap_model=Runner.wrap_model is wrap_model, init_dist=dist_utils._init_dist_pytorch is init_dist,
                  safe_globals=not any(g in torch.serialization.get_safe_globals() for g in ours),
                  changed=changed, added=added,
                  schemes_changed=sorted(k for k, v in mm_ckpt.CheckpointLoader._schemes.items()
                                         if schemes.get(k) is not v),
                  http_loader=getattr(mm_ckpt.load_from_http, '__module__', ''),
                  loaders={k: getattr(v, '__module__', '') for k, v in mm_ckpt.CheckpointLoader._schemes.items()},
                  http_rebound=mm_ckpt.load_from_http is not load_from_http)
    mmdoei.setup_env()
    result['patched_after_setup_env'] = torch.cuda.is_available() or Runner.wrap_model is not wrap_model
    result['allowed_after_setup_env'] = all(g in torch.serialization.get_safe_globals() for g in ours)
    print(json.dumps(result))
''')


@pytest.mark.slow
def test_custom_imports_in_a_stock_mmpretrain_config_change_nothing_else(tmp_path):
    # A stock mmpretrain ViT config, with mmdoei's one line added (README, "DOEI in three lines").
    config = tmp_path / 'vit.py'
    config.write_text(textwrap.dedent('''
        model = dict(type='ImageClassifier',
                     backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16),
                     neck=None, head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=384))
        custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)
        custom_hooks = [dict(type='DOEIHook', af_p2c=0.5, alpha=0.35)]
        default_scope = 'mmpretrain'
    '''))
    res = subprocess.run([sys.executable, '-c', PROBE, str(config)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result['wrap_model'] and result['init_dist'] and result['safe_globals']
    assert result['changed'] == []  # no registered name now means another class
    # The one deliberate change: every scheme that ends in torch.load loads through mmdoei's safe
    # loaders (weights_only=True explicitly; hash checks for http), which only tightens mmengine.
    assert result['schemes_changed'] == sorted(['', 'http://', 'https://', 'pavi://', r'(\S+\:)?s3://',
                                                r'(\S+\:)?petrel://', 'open-mmlab://', 'openmmlab://'])
    assert result['http_rebound'] and result['http_loader'] == 'mmdoei.utils.download'
    # torchvision:// and mmcls:// stay mmengine's: they call the (rebound) load_from_http
    assert {k: m for k, m in result['loaders'].items() if not m.startswith('mmdoei.')} == {
        'modelzoo://': 'mmengine.runner.checkpoint', 'torchvision://': 'mmengine.runner.checkpoint',
        'mmcls://': 'mmengine.runner.checkpoint'}
    assert 'mmengine.hook.DOEIHook' in result['added'] and 'mmpretrain.model.MCTformerV2' in result['added']
    assert 'mmseg.model.LargeFOVHead' in result['added'] and 'mmseg.model.ResNet38d' in result['added']
    assert result['patched_after_setup_env']  # the explicit call is what patches (on a CPU machine)
    assert result['allowed_after_setup_env']
