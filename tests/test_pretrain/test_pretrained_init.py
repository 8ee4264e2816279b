"""The pretraining command writes an ordinary mmpretrain checkpoint, and it
initialises MCTformer-V2, TS-CAM and TransCAM's transformer through init_cfg
with only the expected keys missing."""
import re
from pathlib import Path

import pytest
import tiny_pretraining
import torch
from mmengine.config import Config

from mmdoei.apis.pretrain import PRETRAIN_CONFIG, PRETRAINED_CHECKPOINT, pretrain_backbone, use_pretrained
from mmdoei.models.utils import vit_to_conformer_transformer

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / PRETRAIN_CONFIG)
DEMO = {
    'mctformer-v2': 'configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py',
    'tscam': 'configs/demo/tscam_vit-6l128-pre_synthetic-64.py',
    'transcam': 'configs/demo/transcam_conformer-6l128-pre_synthetic-128.py',
}


@pytest.mark.slow
def test_checkpoint_is_an_ordinary_mmpretrain_checkpoint(tiny_pretrained, tmp_path):
    ckpt = torch.load(tiny_pretrained, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'meta', 'state_dict'}  # no optimizer or scheduler state
    state = ckpt['state_dict']
    assert state['backbone.pos_embed'].shape == (1, 1 + 64, 128)
    assert state['backbone.cls_token'].shape == (1, 1, 128)
    assert sum(k.startswith('backbone.layers.5.') for k in state) > 0 and not any('layers.6.' in k for k in state)
    assert state['head.layers.head.weight'].shape == (5, 128)
    # the cache: a second call with the same settings returns at once without training
    mtime = tiny_pretrained.stat().st_mtime
    assert pretrain_backbone(CONFIG, str(tiny_pretrained), cfg_options=tiny_pretraining.CFG_OPTIONS,
                             data_options=dict(tiny_pretraining.DATA_OPTIONS, progress=True)) == str(tiny_pretrained)
    # ... and with other settings (the config's own schedule, another seed) refuses it, writing nothing
    for other in (dict(), dict(cfg_options=tiny_pretraining.CFG_OPTIONS, data_options=tiny_pretraining.DATA_OPTIONS,
                               seed=1)):
        with pytest.raises(ValueError, match=r'vit\.pth was pretrained with other settings \(stamp [0-9a-f]{16}\), not '
                           r'these \(stamp [0-9a-f]{16}: .*pass --force \(force=True\) to pretrain again into it, '
                           'or another --out'):
            pretrain_backbone(CONFIG, str(tiny_pretrained), data_root=str(tmp_path / 'no_data'), **other)
    assert tiny_pretrained.stat().st_mtime == mtime and not (tmp_path / 'no_data').exists()
    # a file of weights without a stamp is not taken for a pretrained backbone
    torch.save({'meta': {}, 'state_dict': ckpt['state_dict']}, tmp_path / 'unstamped.pth')
    with pytest.raises(ValueError, match='unstamped.pth has no pretrain_stamp'):
        pretrain_backbone(CONFIG, str(tmp_path / 'unstamped.pth'))


def _build(name, checkpoint):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(ROOT / DEMO[name]))
    assert use_pretrained(cfg, str(checkpoint)) == 1  # the config names the cached backbone, once
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.parametrize('name', ['mctformer-v2', 'tscam'])
def test_vit_models_load_everything(tiny_pretrained, name):
    state = torch.load(tiny_pretrained, map_location='cpu', weights_only=True)['state_dict']
    model = _build(name, tiny_pretrained)
    report = model.backbone.pretrained_report
    assert report['missing'] == []
    # MCTformer never applies the final norm (the authors' model has none in use); TS-CAM does.
    assert report['unexpected'] == (['ln1.weight', 'ln1.bias'] if name == 'mctformer-v2' else [])
    assert report['adapted'] == (['cls_token', 'pos_embed'] if name == 'mctformer-v2' else [])
    sd = model.backbone.state_dict()
    for k in ('layers.0.attn.qkv.weight', 'layers.5.ffn.layers.1.weight', 'patch_embed.projection.weight'):
        assert torch.equal(sd[k], state['backbone.' + k])
    C = sd['cls_token'].shape[1]
    assert C == (20 if name == 'mctformer-v2' else 1)
    assert torch.equal(sd['cls_token'], state['backbone.cls_token'].repeat(1, C, 1))


def test_transcam_loads_the_transformer_branch(tiny_pretrained):
    state = torch.load(tiny_pretrained, map_location='cpu', weights_only=True)['state_dict']
    model = _build('transcam', tiny_pretrained)
    report = model.backbone.pretrained_report
    assert report['unexpected'] == []
    # missing: exactly the parts a ViT has no counterpart for
    expected_missing = re.compile(r'^(conv1|bn1|conv_1|trans_patch_conv|conv_trans_\d+\.(cnn_block|fusion_block|'
                                  r'squeeze_block|expand_block))\.')
    assert report['missing'] and all(expected_missing.match(k) for k in report['missing']), report['missing']
    assert not [k for k in report['missing'] if 'trans_block' in k or k.startswith(('trans_1.', 'trans_norm'))]
    sd = model.backbone.state_dict()
    assert torch.equal(sd['trans_1.attn.qkv.weight'], state['backbone.layers.0.attn.qkv.weight'])
    assert torch.equal(sd['conv_trans_6.trans_block.ffn.layers.0.0.bias'],
                       state['backbone.layers.5.ffn.layers.0.0.bias'])
    assert torch.equal(sd['trans_norm.weight'], state['backbone.ln1.weight'])
    assert torch.equal(sd['cls_token'], state['backbone.cls_token'])


def test_vit_to_conformer_names_by_hand():
    t = torch.zeros(1)
    out = vit_to_conformer_transformer({'cls_token': t, 'pos_embed': t, 'patch_embed.projection.weight': t,
                                        'layers.0.ln1.weight': t, 'layers.1.attn.qkv.bias': t,
                                        'layers.11.ffn.layers.1.weight': t, 'ln1.bias': t})
    assert list(out) == ['cls_token', 'trans_1.ln1.weight', 'conv_trans_2.trans_block.attn.qkv.bias',
                         'conv_trans_12.trans_block.ffn.layers.1.weight', 'trans_norm.bias']


@pytest.mark.slow
def test_demo_configs_name_the_cached_backbone():
    for config in DEMO.values():
        assert PRETRAINED_CHECKPOINT in Config.fromfile(str(ROOT / config)).pretty_text
