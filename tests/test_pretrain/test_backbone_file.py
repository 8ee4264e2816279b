"""A backbone file is checked before work reads it (found by an outside attack on issue 25's shipped backbone):
a malformed, truncated or hostile ``--reference`` / cached backbone is refused naming the file, a checkpoint of
another model no longer trains MCTformer from its random init, and a pin value no library knows is named so."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmdoei.apis.pretrain import read_backbone_meta
from mmdoei.utils.numerics import pin_cpu_numerics

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / 'checkpoints' / 'vit-6l128_procedural-64.pth'
SHA = 'ab' * 32


def _save(path: Path, obj) -> str:
    torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize('obj, message', [
    ({'meta': [1], 'state_dict': {}}, "'s meta is a list, not a dict"),
    ([1, 2], 'is not a checkpoint of weights (a dict with a state_dict dict)'),
    ({'meta': {'weights_trace': ['x']}, 'state_dict': {}}, 'weights_trace must map iteration numbers to sha256'),
    ({'meta': {'weights_trace': {'8': 123}}, 'state_dict': {}}, 'weights_trace must map iteration numbers'),
    ({'meta': {'weights_trace': {'8': 'x' * 10**6}}, 'state_dict': {}}, 'weights_trace must map iteration numbers'),
    ({'meta': {'weights_sha256': 'nothex'}, 'state_dict': {}}, 'weights_sha256 is not a sha256 hex digest'),
])
def test_a_malformed_backbone_is_refused_naming_it(tmp_path, obj, message):
    path = _save(tmp_path / 'ref.pth', obj)
    with pytest.raises(ValueError) as e:
        read_backbone_meta(path, 'reference backbone')
    assert str(e.value).startswith(f'{path}: reference backbone') and message in str(e.value)


def test_unreadable_files_are_refused_without_opening_a_fifo(tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('hello')
    with pytest.raises(ValueError, match=rf'^{text}: backbone is not a readable checkpoint \('):
        read_backbone_meta(str(text))
    fifo = tmp_path / 'f.pth'
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=rf'^{fifo}: backbone is a FIFO \(named pipe\), not a regular file'):
        read_backbone_meta(str(fifo))
    with pytest.raises(ValueError, match=rf'^{tmp_path}: backbone is a directory'):
        read_backbone_meta(str(tmp_path))
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(SHIPPED.read_bytes()[:1_000_000])  # the shipped file, truncated
    with pytest.raises(ValueError, match=rf'^{cut}: cached backbone is not a readable checkpoint .*delete it'):
        from mmdoei.apis.pretrain import checkpoint_stamp
        checkpoint_stamp(str(cut))
    good = _save(tmp_path / 'good.pth', {'meta': {'weights_trace': {'8': SHA}, 'pretrain_stamp': 's'},
                                         'state_dict': {}})
    assert read_backbone_meta(good) == {'weights_trace': {'8': SHA}, 'pretrain_stamp': 's'}


def test_mctformer_refuses_a_checkpoint_of_another_model(tmp_path):
    from mmdoei.models.backbones.mct_vit import MCTVisionTransformer
    wrong = _save(tmp_path / 'wrong.pth', {'state_dict': {'backbone.foo.weight': torch.zeros(3, 3)}})
    vit = MCTVisionTransformer(num_class_tokens=2, arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                                                             feedforward_channels=64), img_size=32, patch_size=8)
    with pytest.raises(ValueError, match=rf"^{wrong}: none of its 1 weights \(e.g. \['foo.weight'\]\) is one of "
                                         r"MCTVisionTransformer's \(e.g. \['cls_token'"):
        vit._load_pretrained(wrong, prefix='backbone.')


def test_a_pin_value_no_library_knows_is_named_so():
    env = {'MKL_CBWR': 'garbage', 'ONEDNN_MAX_CPU_ISA': 'AVX512_CORE', 'ATEN_CPU_CAPABILITY': 'bogus'}
    line = pin_cpu_numerics(env, flags={'avx2', 'fma'}, torch_loaded=False)[0]
    assert 'MKL_CBWR=garbage (set by you, not a value the library knows (AUTO, AVX,' in line
    assert 'ATEN_CPU_CAPABILITY=bogus (set by you, not a value the library knows (avx2, avx512, default)' in line
    assert "ONEDNN_MAX_CPU_ISA=AVX512_CORE (set by you, not the pinned AVX2: the last digits" in line
    assert 'MKL_CBWR=COMPATIBLE,STRICT (set by you, not the pinned COMPATIBLE' in pin_cpu_numerics(
        {'MKL_CBWR': 'COMPATIBLE,STRICT'}, flags={'avx2', 'fma'}, torch_loaded=False)[0]


@pytest.mark.slow
def test_tools_pretrain_checks_the_reference_before_pretraining(tmp_path):
    # one fresh interpreter, as a user runs it: a missing --reference stops at once, nothing written
    res = subprocess.run([sys.executable, str(ROOT / 'tools/pretrain.py'), '--reference', str(tmp_path / 'no.pth'),
                          '--out', str(tmp_path / 'out.pth'), '--data-root', str(tmp_path / 'data')],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert f'error: --reference backbone {tmp_path / "no.pth"} does not exist' in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
