"""DOEI attached to stock mmpretrain models, by function and by config hook."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from mmdoei.doei import DOEIAttention, DOEIConfig, DOEIHook, attach_doei

TINY_VIT = dict(type='VisionTransformer', arch=dict(embed_dims=32, num_layers=4, num_heads=2,
                                                    feedforward_channels=64),
                img_size=32, patch_size=8)


def _vit(**kw):
    torch.manual_seed(0)
    m = MODELS.build({**TINY_VIT, **kw})
    m.init_weights()
    m.eval()
    return m


def _forward(model, x):
    with torch.no_grad():
        return model(x)[0]


def test_changes_output_and_zero_factors_reproduce_attention_baseline():
    x = torch.randn(2, 3, 32, 32)
    base = _vit()
    y_stock = _forward(base, x)
    doei = copy.deepcopy(base)
    attach_doei(doei, layers=4, st_p2c=.05, af_p2c=1., sf_p2c=-.5)
    assert not torch.allclose(_forward(doei, x), y_stock, atol=1e-3)

    zero = copy.deepcopy(base)
    h = attach_doei(zero, af_p2c=0., sf_p2c=0., af_c2c=0., sf_c2c=0.)
    y_zero = _forward(zero, x)
    # Against the same model returning attention maps with DOEI detached: bit-identical.
    h.remove()
    for b in h.blocks:
        b.attn.need_attn = True
    assert torch.equal(y_zero, _forward(zero, x))
    # Against the stock fused-attention model: equal up to float rounding.
    torch.testing.assert_close(y_zero, y_stock, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('kw', [dict(layers=0), dict(ppdo=False, cpdo=False)])
def test_off_settings_equal_baseline(kw):
    x = torch.randn(1, 3, 32, 32)
    base = _vit()
    ref = copy.deepcopy(base)
    for b in ref.layers:
        b.attn = DOEIAttention.from_attention(b.attn)
        b.attn.need_attn = True
    other = copy.deepcopy(base)
    attach_doei(other, **kw)
    for b in other.layers:
        b.attn.need_attn = True
    assert torch.equal(_forward(other, x), _forward(ref, x))


def test_state_dict_and_parameters_unchanged():
    base = _vit()
    keys = list(base.state_dict())
    n = sum(p.numel() for p in base.parameters())
    params = list(base.parameters())
    attach_doei(base)
    assert list(base.state_dict()) == keys
    assert sum(p.numel() for p in base.parameters()) == n
    assert all(a is b for a, b in zip(params, base.parameters()))
    assert all(isinstance(b.attn, DOEIAttention) for b in base.layers)


def test_only_first_k_blocks_act():
    base = _vit()
    h = attach_doei(base, layers=2)
    assert [b.attn.need_attn for b in base.layers] == [True, True, False, False]
    assert h.num_layers == 2 and h.depth == 4 and h.num_cls == 1


def test_in_train_false_skips_training_mode():
    x = torch.randn(1, 3, 32, 32)
    base = _vit(drop_rate=0.)
    ref = copy.deepcopy(base)
    attach_doei(base, in_train=False, st_p2c=.05, af_p2c=1., sf_p2c=-.5)
    base.train()
    ref.train()
    torch.testing.assert_close(base(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)
    base.eval()
    ref.eval()
    assert not torch.allclose(_forward(base, x), _forward(ref, x), atol=1e-3)


def test_gradients_reach_all_parameters():
    base = _vit()
    base.train()
    attach_doei(base, st_p2c=.05)
    base(torch.randn(2, 3, 32, 32))[0].sum().backward()
    assert all(p.grad is not None for n, p in base.named_parameters() if n != 'ln2.weight')


@pytest.mark.parametrize('kw,msg', [
    (dict(st_p2c=-.1), 'st_p2c must be >= 0'),
    (dict(alpha=1.5), r'alpha must be in \[0, 1\]'),
    (dict(ppdo_suppress='x'), 'ppdo_suppress must be one of'),
    (dict(bogus=1), r"unknown option\(s\) \['bogus'\]"),
])
def test_bad_config_values(kw, msg):
    with pytest.raises((ValueError, KeyError), match=msg):
        DOEIConfig.from_dict(kw)


def test_layers_beyond_depth_and_no_blocks():
    with pytest.raises(ValueError, match=r'layers=5 exceeds the depth of VisionTransformer \(4 blocks\)'):
        attach_doei(_vit(), layers=5)
    with pytest.raises(ValueError, match='Linear has no transformer blocks'):
        attach_doei(torch.nn.Linear(2, 2))


def _config(tmp_path, *lines):
    path = tmp_path / f'cfg{len(lines)}_{abs(hash(lines))}.py'
    path.write_text('\n'.join(["_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py']",
                               'model = dict(train_cfg=None)', *lines]))
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path)
    return cfg


@pytest.mark.slow
def test_hook_in_stock_mmpretrain_deit_small_config(tmp_path):
    """mmpretrain's own DeiT-small config plus three lines."""
    stock = Runner.from_cfg(_config(tmp_path)).model
    doei_lines = (
        "custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)",
        'custom_hooks = [',
        "    dict(type='DOEIHook', st_p2c=.05, af_p2c=1., sf_p2c=-.5)]")
    runner = Runner.from_cfg(_config(tmp_path, *doei_lines))
    runner.model.load_state_dict(stock.state_dict())
    runner.call_hook('before_run')
    assert isinstance(runner.model.backbone.layers[0].attn, DOEIAttention)

    zero_lines = doei_lines[:2] + ("    dict(type='DOEIHook', af_p2c=0., sf_p2c=0.)]",)
    zero = Runner.from_cfg(_config(tmp_path, *zero_lines))
    zero.model.load_state_dict(stock.state_dict())
    zero.call_hook('before_run')

    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        y_stock = stock.eval()(x, mode='tensor')
        y_doei = runner.model.eval()(x, mode='tensor')
        y_zero = zero.model.eval()(x, mode='tensor')
    assert not torch.allclose(y_doei, y_stock, atol=1e-3)
    torch.testing.assert_close(y_zero, y_stock, atol=1e-5, rtol=1e-5)
    assert list(runner.model.state_dict()) == list(stock.state_dict())


def test_hook_validates_config_up_front():
    with pytest.raises(ValueError, match='alpha must be in'):
        DOEIHook(alpha=-1)
