"""tools/test.py --cam-out: same CAMs as the model's own method, resumable, rank-split."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from background import running
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

from mmdoei.evaluation import load_cam
from mmdoei.utils.files import read_split
from projects.wsss_lab.synthetic import make_synthetic_voc

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('camtool')
    data_root = make_synthetic_voc(tmp / 'voc', num_train=24, num_val=8, img_size=(64, 80))
    cfg = Config.fromfile(str(CONFIG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return data_root, ckpt, model.eval()


def _cmd(data_root, ckpt, out, *extra):
    return [sys.executable, str(ROOT / 'tools/test.py'), str(CONFIG), str(ckpt),
            '--data-root', str(data_root), '--work-dir', str(out.parent / f'work_{out.name}'),
            '--cam-out', str(out), *extra]


def _run(data_root, ckpt, out, *extra):
    res = subprocess.run(_cmd(data_root, ckpt, out, *extra), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _alongside(cmd, **kw):
    """``cmd`` running in the background for the block, which waits for it with :func:`_finish`
    (background.running)."""
    return running(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw))


def _finish(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out + err


def _cams(folder):
    return {p.name: load_cam(str(p)) for p in sorted(Path(folder).glob('*.npz'))}


@pytest.mark.slow
def test_tool_equals_model_cam_method(setup, tmp_path):
    data_root, ckpt, model = setup
    out = tmp_path / 'cams'
    _run(data_root, ckpt, out, '--scales', '1.0', '--no-flip')
    ids = read_split(str(data_root / 'ImageSets/Segmentation/train_aug.txt'))
    assert sorted(p.stem for p in out.glob('*.npz')) == sorted(ids)
    for img_id in ids[:6]:
        keys, cams = load_cam(str(out / f'{img_id}.npz'))
        rgb = np.asarray(Image.open(data_root / 'JPEGImages' / f'{img_id}.jpg').convert('RGB'), np.float32)
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None]
        x = (x - torch.tensor([123.675, 116.28, 103.53])[:, None, None]) / \
            torch.tensor([58.395, 57.12, 57.375])[:, None, None]
        with torch.no_grad():
            raw = model.cams(x)[:, torch.as_tensor(keys)]
        up = F.interpolate(raw, size=rgb.shape[:2], mode='bilinear', align_corners=False)[0]
        flat = up.flatten(1)
        expected = (up - flat.min(1).values[:, None, None]) / \
            (flat.max(1).values - flat.min(1).values + 1e-8)[:, None, None]
        with np.load(out / f'{img_id}.npz', allow_pickle=False) as raw_file:
            assert raw_file['cams'].dtype == np.float16 and raw_file['keys'].dtype == np.int64
        assert cams.shape == (len(keys), *rgb.shape[:2])
        np.testing.assert_allclose(cams.astype(np.float32), expected.numpy(), atol=1e-3)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_files(setup, tmp_path, kill_on_line):
    data_root, ckpt, _ = setup
    slow = ('--scales', '1.0', '2.0', '3.0')  # slow enough to be killed midway
    full, part = tmp_path / 'full', tmp_path / 'part'
    with _alongside(_cmd(data_root, ckpt, full, *slow)) as uninterrupted:  # while the other is killed and resumed
        # killed at the first output line (progress bar, log) once 3 CAM files exist
        kill_on_line(_cmd(data_root, ckpt, part, *slow), lambda line: len(list(part.glob('*.npz'))) >= 3)
        n_before = len(list(part.glob('*.npz')))
        assert n_before < 24
        res = _run(data_root, ckpt, part, *slow)
        _finish(uninterrupted)
    assert f'{n_before} of 24 images already done' in res.stdout + res.stderr
    a, b = _cams(full), _cams(part)
    assert list(a) == list(b)
    for name in a:
        assert np.array_equal(a[name][0], b[name][0]) and np.array_equal(a[name][1], b[name][1]), name
    assert not list(part.glob('.*.tmp'))


@pytest.mark.slow
def test_two_ranks_split_the_work_and_agree(setup, tmp_path, free_port):
    data_root, ckpt, _ = setup
    single, dist = tmp_path / 'single', tmp_path / 'dist'
    env = dict(os.environ, PORT=free_port)
    with _alongside(_cmd(data_root, ckpt, single)) as one_process:
        log = _finish(subprocess.Popen(
            ['bash', str(ROOT / 'tools/dist_test.sh'), str(CONFIG), str(ckpt), '2', '--data-root', str(data_root),
             '--work-dir', str(tmp_path / 'w'), '--cam-out', str(dist)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        _finish(one_process)
    assert 'this rank computes 12' in log
    a, b = _cams(single), _cams(dist)
    assert list(a) == list(b) and len(a) == 24
    for name in a:
        assert np.array_equal(a[name][0], b[name][0])
        # torchrun runs one thread per rank: float sums differ in order, so allow float16 steps.
        np.testing.assert_allclose(a[name][1], b[name][1], atol=2e-3)


@pytest.mark.slow
def test_unlabelled_image_is_named(setup, tmp_path):
    data_root, ckpt, _ = setup
    bad_root = tmp_path / 'voc'
    subprocess.run(['cp', '-r', str(data_root), str(bad_root)], check=True)
    img_id = read_split(str(bad_root / 'ImageSets/Segmentation/train_aug.txt'))[0]
    xml = bad_root / 'Annotations' / f'{img_id}.xml'  # the labels' source: no <object> left
    text = xml.read_text()
    xml.write_text(text[:text.index('\t<object>')] + '</annotation>\n')
    cmd = [sys.executable, str(ROOT / 'tools/test.py'), str(CONFIG), str(ckpt), '--data-root',
           str(bad_root), '--work-dir', str(tmp_path / 'w'), '--cam-out', str(tmp_path / 'c')]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    assert f'{img_id}.jpg: image has no class label' in res.stderr
