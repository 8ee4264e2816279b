"""The README's main job, tools/demo.py, at a few images and one epoch."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize('model', ['mctformer-v2', 'transcam'])
def test_demo_runs_and_reports(tmp_path, model, tiny_pretrained):
    out = tmp_path / 'demo'
    # the pretrained regime (the default), from a small checkpoint in the cached backbone's format
    cmd = [sys.executable, str(ROOT / 'tools/demo.py'), '--model', model, '--out-dir', str(out),
           '--epochs', '1', '--num-train', '24', '--pretrained', str(tiny_pretrained)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f'loaded {tiny_pretrained}' in res.stdout + res.stderr  # both variants start from it
    summary = json.loads((out / 'summary.json').read_text())
    assert list(summary) == [model, f'doei+{model}']
    for r in summary.values():
        assert 0 <= r['mIoU'] <= 100 and 0 <= r['best_threshold'] <= 1
    table = (out / 'summary.md').read_text()
    assert f'| doei+{model} |' in table and (out / 'comparison.png').stat().st_size > 0
    assert list((out / model / 'cams' / 'overlays').glob('*.png'))
    # A rerun keeps what is done: no training again.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert again.returncode == 0 and f'[demo] {model}: training' not in again.stdout
    assert json.loads((out / 'summary.json').read_text()) == summary


@pytest.mark.slow
def test_demo_names_a_missing_pretrained_checkpoint(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / 'tools/demo.py'), '--out-dir', str(tmp_path / 'd'),
                          '--pretrained', str(tmp_path / 'nope.pth')], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert res.returncode != 0
    assert f'--pretrained {tmp_path / "nope.pth"}: no such checkpoint' in res.stderr
    assert not (tmp_path / 'd' / 'data').exists()  # refused before any work


@pytest.mark.slow
def test_demo_from_scratch_keeps_its_own_folder(tmp_path):
    out = tmp_path / 'demo'
    res = subprocess.run([sys.executable, str(ROOT / 'tools/demo.py'), '--model', 'tscam', '--from-scratch',
                          '--out-dir', str(out), '--epochs', '1', '--num-train', '24'],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert '[pretrain]' not in res.stdout and 'loaded' not in res.stdout + res.stderr  # no pretrained start
    assert 'configs/demo/tscam_vit-4l128_synthetic-64.py' in res.stdout
    assert list(json.loads((out / 'from_scratch' / 'summary.json').read_text())) == ['tscam', 'doei+tscam']
    assert not (out / 'summary.json').exists() and not (out / 'tscam').exists()
