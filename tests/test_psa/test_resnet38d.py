"""ResNet-38d: architecture facts, freezing, and loading PSA's weights through
the key mapping (the PSA-format files here are generated from the documented
mapping, in the exact form of PSA's converted MXNet weights)."""
import re
import runpy
from pathlib import Path

import pytest
import torch
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS as SEG_MODELS

from mmdoei.models.backbones.resnet38d import ResNet38d, psa_key_to_mmdoei, psa_to_mmdoei

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(widen_factor=0.125, stage_blocks=(1, 1, 2, 1, 1, 1))

# Our name -> PSA's, the mapping as documented (written independently of the code under
# test): stages b2..b7 = layer1..layer6, block 0 unsuffixed, block k as b{s}_{k}.
_OURS_TO_PSA_PART = {'bn1': 'bn_branch2a', 'conv1': 'conv_branch2a', 'bn2': 'bn_branch2b1',
                     'conv2': 'conv_branch2b1', 'bn3': 'bn_branch2b2', 'conv3': 'conv_branch2b2',
                     'downsample': 'conv_branch1'}


def ours_to_psa(key):
    if key.startswith('conv1.'):
        return 'conv1a.' + key[6:]
    if key.startswith('bn_out.'):
        return 'bn7.' + key[7:]
    layer, block, part, param = re.match(r'layer(\d)\.(\d+)\.(\w+)\.(.+)', key).groups()
    stage = f'b{int(layer) + 1}' + (f'_{block}' if block != '0' else '')
    return f'{stage}.{_OURS_TO_PSA_PART[part]}.{param}'


def psa_format(model):
    """A state dict as PSA's convert_mxnet_to_torch returns it: PSA names, no
    num_batches_tracked (MXNet has none), the ImageNet classifier dropped."""
    return {ours_to_psa(k): v.clone() for k, v in model.state_dict().items()
            if not k.endswith('num_batches_tracked')}


def test_registered_in_both_scopes():
    assert PRETRAIN_MODELS.get('ResNet38d') is SEG_MODELS.get('ResNet38d') is ResNet38d


@pytest.mark.slow
def test_real_network_size_and_psa_keys():
    model = ResNet38d(out_indices=(2, 3, 5))
    # PSA's resnet38_cls has 105,152,832 parameters of which fc8 (20 x 4096) is the head.
    assert sum(p.numel() for p in model.parameters()) == 105_152_832 - 20 * 4096
    psa = psa_format(model)
    assert len(psa) == 191  # PSA's ResNet-38d: 228 tensors minus the 37 BNs' num_batches_tracked
    # Hand-picked keys of PSA's layout, with their shapes.
    for key, shape in (('conv1a.weight', (64, 3, 3, 3)), ('b2.conv_branch1.weight', (128, 64, 1, 1)),
                       ('b4_5.bn_branch2b1.running_var', (512, )), ('b5.conv_branch2a.weight', (512, 512, 3, 3)),
                       ('b5_2.conv_branch2b1.weight', (1024, 512, 3, 3)),
                       ('b6.conv_branch2a.weight', (512, 1024, 1, 1)),
                       ('b7.conv_branch2b2.weight', (4096, 2048, 1, 1)), ('bn7.weight', (4096, ))):
        assert tuple(psa[key].shape) == shape, key
    converted = psa_to_mmdoei(psa)
    own = model.state_dict()
    assert set(converted) == {k for k in own if not k.endswith('num_batches_tracked')}
    assert all(torch.equal(converted[k], own[k]) for k in converted)


def test_key_mapping_by_hand():
    assert psa_key_to_mmdoei('conv1a.weight') == 'conv1.weight'
    assert psa_key_to_mmdoei('b2.bn_branch2a.bias') == 'layer1.0.bn1.bias'
    assert psa_key_to_mmdoei('b4_5.conv_branch2b1.weight') == 'layer3.5.conv2.weight'
    assert psa_key_to_mmdoei('b7.bn_branch2b2.running_mean') == 'layer6.0.bn3.running_mean'
    assert psa_key_to_mmdoei('b6.conv_branch1.weight') == 'layer5.0.downsample.weight'
    assert psa_key_to_mmdoei('bn7.running_var') == 'bn_out.running_var'
    assert psa_key_to_mmdoei('f8_4.weight') == 'head.lateral_convs.1.weight'
    assert psa_key_to_mmdoei('f9.weight') == 'head.fuse_conv.weight'
    assert psa_key_to_mmdoei('fc8.weight') is None
    with pytest.raises(KeyError, match='not a key of PSA'):
        psa_key_to_mmdoei('b3.branch_unknown.weight')


def test_outputs_stride_channels_and_order():
    model = ResNet38d(out_indices=(5, 2, 3), **TINY).eval()
    outs = model(torch.randn(1, 3, 40, 56))
    # out_indices order is kept; stride 8; widths 512/8, 1024/8, 4096/8
    assert [tuple(o.shape) for o in outs] == [(1, 512, 5, 7), (1, 64, 5, 7), (1, 128, 5, 7)]
    assert all((o >= 0).all() for o in outs)  # activated features (BN-ReLU'd)


def test_frozen_stages_and_norm_eval():
    model = ResNet38d(frozen_stages=1, norm_eval=True, norm_cfg=dict(type='BN', requires_grad=False), **TINY)
    model.train()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert all(n.startswith(('conv1.', 'layer1.')) or '.bn' in n or n.startswith('bn_out') for n in frozen)
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith(('conv1.', 'layer1.')))
    assert model.layer2[0].conv1.weight.requires_grad
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert model.layer6[0].drop3.training  # dropout stays active, as PSA trains


def test_pretrained_init_from_psa_file(tmp_path):
    src = ResNet38d(**TINY)
    path = tmp_path / 'psa_imagenet.pth'
    torch.save(psa_format(src), path)
    model = ResNet38d(init_cfg=dict(type='Pretrained', checkpoint=str(path)), **TINY)
    model.init_weights()
    for k, v in src.state_dict().items():
        if not k.endswith('num_batches_tracked'):
            assert torch.equal(model.state_dict()[k], v), k
    wider = ResNet38d(init_cfg=dict(type='Pretrained', checkpoint=str(path)), widen_factor=0.25,
                      stage_blocks=TINY['stage_blocks'])
    with pytest.raises(ValueError, match=r'psa_imagenet\.pth: \d+ tensor\(s\) differ in shape'):
        wider.init_weights()


def test_converter_tool(tmp_path, capsys):
    src = ResNet38d(**TINY)
    psa = psa_format(src)
    psa['fc8.weight'] = torch.zeros(20, 512, 1, 1)  # a res38_cls.pth carries the VOC classifier
    psa['f8_3.weight'] = torch.ones(16, 64, 1, 1)  # and resnet38_aff.pth the AffinityNet head
    torch.save(psa, tmp_path / 'psa.pth')
    tool = runpy.run_path(str(ROOT / 'tools/model_converters/psa_resnet38_to_mmdoei.py'), run_name='tool')
    tool['main']([str(tmp_path / 'psa.pth'), str(tmp_path / 'ours.pth')])
    assert "dropped ['fc8.weight']" in capsys.readouterr().out
    state = torch.load(tmp_path / 'ours.pth', weights_only=True)['state_dict']
    assert torch.equal(state['head.lateral_convs.0.weight'], torch.ones(16, 64, 1, 1))
    assert torch.equal(state['backbone.layer3.1.conv2.weight'], src.layer3[1].conv2.weight)
    assert len(state) == len(psa) - 1
    model = ResNet38d(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'ours.pth')), **TINY)
    model.init_weights()
    assert torch.equal(model.bn_out.running_var, src.bn_out.running_var)
