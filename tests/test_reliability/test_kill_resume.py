"""Kill and resume at every long stage after stage 1: AffinityNet training,
``tools/psa_infer.py``, DeepLab training, the ms + flip + CRF test with
``--metrics-out`` and the DOEI sweep.

Each stage runs once uninterrupted, and once SIGKILLed at a point drawn by a
seeded ``random.Random`` and then rerun; the final files must be the same:

* checkpoints: every tensor of ``state_dict`` equal (the pickled ``meta``
  holds timestamps and paths, so the files' bytes differ by design);
* masks, metrics json, ``summary.md``: byte-identical;
* ``sweep.csv``: byte-identical after dropping its ``seconds`` column (wall
  time);

and no temporary file (``.*.tmp``) may be left. The uninterrupted run goes on
alongside the killed one and its resume (separate folders; one thread each), so
the two cores share the work instead of one idling. The kill waits on what the
run writes, read from its output pipe line by line (blocking, no sleeps, no
deadlines): a log line that comes after the n-th checkpoint, mask or sweep
row, whose file is then checked to exist. Stage 1 (CAMs, training) is
covered in tests/test_cam/test_cam_tool.py and tests/test_engine/test_training.py.
"""
import csv
import io
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from background import running

from projects.wsss_lab.standin_cams import make_standin_cams
from projects.wsss_lab.synthetic import make_synthetic_voc

# The checkpoints are compared with torch.load(weights_only=True), as after the tools' setup_env.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('mmdoei_setup_env')]

ROOT = Path(__file__).resolve().parents[2]
PSA = ROOT / 'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py'
DEEPLAB = ROOT / 'configs/deeplab/deeplabv1-largefov_resnet38d-tiny_1xb8-800i_synthvoc-64x64.py'
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')


def start(cmd) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)


def finish(proc: subprocess.Popen) -> str:
    """Wait for ``proc``; assert it exited with 0; its stdout + stderr."""
    out, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, (out + err)[-4000:]
    return out + err


def run(cmd) -> str:
    return finish(start(cmd))


def alongside(cmd):
    """Run ``cmd`` in the background for the block (:func:`finish` it there); killed if the block fails."""
    return running(start(cmd))


def _kill(kill_on_line, cmd, ready) -> str:
    return kill_on_line(cmd, ready, cwd=ROOT, env=ENV)


def no_tmp(*folders) -> None:
    left = [str(p) for f in folders for p in Path(f).rglob('*.tmp')]
    assert left == [], left


def same_state_dict(a: Path, b: Path) -> None:
    sa = torch.load(a, weights_only=True)['state_dict']
    sb = torch.load(b, weights_only=True)['state_dict']
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f'{k} differs between {a} and {b}'


def same_files(a: Path, b: Path, pattern: str) -> int:
    fa, fb = sorted(p.relative_to(a) for p in a.rglob(pattern)), sorted(p.relative_to(b) for p in b.rglob(pattern))
    assert fa == fb and fa
    for rel in fa:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    return len(fa)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """8 train + 2 val synthetic VOC images with stand-in CAMs (stage-1 output)."""
    root = tmp_path_factory.mktemp('kill')
    data_root = make_synthetic_voc(root / 'voc', num_train=8, num_val=2, img_size=(64, 80), seed=3)
    make_standin_cams(str(data_root), str(root / 'cams'), progress=False)
    return data_root, root / 'cams'


# --------------------------------------------------------------------------- AffinityNet training

def _psa_train(data, work: Path, epochs: int, *extra):
    data_root, cams = data
    return [sys.executable, 'tools/train.py', str(PSA), '--data-root', str(data_root), '--work-dir', str(work),
            *extra, '--cfg-options', f'train_dataloader.dataset.pipeline.1.cam_dir={cams}',
            f'train_dataloader.dataset.pipeline.1.cache_dir={work}_crf',
            'train_dataloader.dataset.pipeline.5.crop_size=(48,48)', 'train_dataloader.dataset.pipeline.6.size=48',
            'train_dataloader.batch_size=4', f'train_cfg.max_epochs={epochs}', f'param_scheduler.0.end={epochs}',
            'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=-1',
            'default_hooks.logger.interval=1']


def _training_resumes_exactly(kill_on_line, cmd, tmp_path, saved: str, final: str, kill_line: str,
                              resumed: str) -> None:
    """Train uninterrupted; meanwhile train again, killed at ``kill_line`` (after
    checkpoint ``saved``), and resume: the ``final`` checkpoints' tensors agree."""
    full, part = tmp_path / 'full', tmp_path / 'part'
    with alongside(cmd(full)) as uninterrupted:
        _kill(kill_on_line, cmd(part), lambda line: kill_line in line)
        assert (part / saved).exists() and not (part / final).exists()
        assert resumed in run(cmd(part, '--resume'))
        finish(uninterrupted)
    same_state_dict(full / final, part / final)
    no_tmp(tmp_path)


def test_affinitynet_training(data, tmp_path, kill_on_line):
    epochs = 4
    k = random.Random(1).randint(1, epochs - 1)  # checkpoints written before the kill
    # the first log line of epoch k + 1 comes after epoch_k.pth is saved
    _training_resumes_exactly(kill_on_line, lambda work, *extra: _psa_train(data, work, epochs, *extra), tmp_path,
                              f'epoch_{k}.pth', f'epoch_{epochs}.pth', f'Epoch(train) [{k + 1}]',
                              f'resumed epoch: {k}')


# --------------------------------------------------------------------------- pseudo masks

def test_psa_infer(data, tmp_path, kill_on_line):
    data_root, cams = data
    ckpt = tmp_path / 'affnet.pth'
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(Config.fromfile(str(PSA)).model).state_dict()}, ckpt)

    def infer(out):
        return [sys.executable, 'tools/psa_infer.py', str(PSA), str(ckpt), '--data-root', str(data_root),
                '--cam-dir', str(cams), '--out-dir', str(out), '--work-dir', str(out) + '_work', '--no-eval',
                '--cfg-options', 'test_dataloader.dataset.split=ImageSets/Segmentation/train.txt']

    n = len((data_root / 'ImageSets/Segmentation/train.txt').read_text().split())  # the full run writes them all
    kill_after = random.Random(2).randint(1, n - 1)
    part = tmp_path / 'part'
    with alongside(infer(tmp_path / 'full')) as uninterrupted:
        _kill(kill_on_line, infer(part), lambda line: len(list(part.glob('*.png'))) >= kill_after)
        done = len(list(part.glob('*.png')))
        assert kill_after <= done < n
        log = run(infer(part))
        finish(uninterrupted)
    assert f'{done} of {n} pseudo masks already in {part}' in log
    assert same_files(tmp_path / 'full', part, '*.png') == n
    no_tmp(tmp_path)


# --------------------------------------------------------------------------- DeepLab training

def _deeplab_train(data_root, work: Path, iters: int, *extra):
    return [sys.executable, 'tools/train.py', str(DEEPLAB), '--data-root', str(data_root), '--work-dir', str(work),
            *extra, '--cfg-options', f'train_dataloader.dataset.pseudo_mask_dir={data_root}/SegmentationClassAug',
            'train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt', 'train_dataloader.batch_size=2',
            # a worker process: its generator replays the same stream when the resumed loop skips batches
            'train_dataloader.num_workers=1', f'train_cfg.max_iters={iters}', 'train_cfg.val_interval=1000',
            f'param_scheduler.0.end={iters}', 'default_hooks.checkpoint.interval=2',
            'default_hooks.checkpoint.max_keep_ckpts=-1', 'default_hooks.logger.interval=1']


def test_deeplab_training(data, tmp_path, kill_on_line):
    data_root, _ = data
    iters = 8
    k = 2 * random.Random(3).randint(1, iters // 2 - 1)  # a checkpoint every 2 iterations
    _training_resumes_exactly(kill_on_line, lambda work, *extra: _deeplab_train(data_root, work, iters, *extra),
                              tmp_path, f'iter_{k}.pth', f'iter_{iters}.pth', f'Iter(train) [{k + 1}/{iters}]',
                              f'resumed epoch: 0, iter: {k}')


# --------------------------------------------------------------------------- ms + flip + CRF test

SPLIT = 'ImageSets/Segmentation/trainval.txt'  # the images with GT masks


def test_tta_test_with_out(data, tmp_path, kill_on_line):
    data_root, _ = data
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    ckpt = tmp_path / 'deeplab.pth'
    torch.save({'state_dict': MODELS.build(Config.fromfile(str(DEEPLAB)).model).state_dict()}, ckpt)

    def test(out):
        return [sys.executable, 'tools/test.py', str(DEEPLAB), str(ckpt), '--tta', '--data-root', str(data_root),
                '--work-dir', str(out.parent / (out.stem + '_work')), '--metrics-out', str(out), '--cfg-options',
                'test_dataloader.num_workers=0', 'default_hooks.logger.interval=1',
                f'test_dataloader.dataset.ann_file={SPLIT}']

    full, part = tmp_path / 'full.json', tmp_path / 'part.json'
    n = len((data_root / SPLIT).read_text().split())
    kill_at = random.Random(4).randint(1, n - 1)
    at = re.compile(rf'(Epoch|Iter)\(test\) \[{kill_at}/{n}\]')  # the log line after image kill_at
    with alongside(test(full)) as uninterrupted:
        _kill(kill_on_line, test(part), lambda line: at.search(line) is not None)
        assert not part.exists()  # the metrics are written at the end, at once
        run(test(part))
        finish(uninterrupted)
    assert part.read_bytes() == full.read_bytes()
    no_tmp(tmp_path)


# --------------------------------------------------------------------------- the sweep

def test_sweep_mid_run(tmp_path, kill_on_line):
    data_root = make_synthetic_voc(tmp_path / 'voc', num_train=12, num_val=2, img_size=(48, 64), seed=0)

    def sweep(out):
        return [sys.executable, 'tools/analysis_tools/doei_sweep.py', 'tests/data/configs/tiny_mct_voc.py',
                '--axis', 'sf=-0.3', '--mode', 'cam', '--seeds', '0', '--epochs', '1', '--data-root',
                str(data_root), '--out-dir', str(out)]

    # the same folder name for both: it is the title of summary.md
    full, part = tmp_path / 'full' / 'sweep', tmp_path / 'part' / 'sweep'
    kill_after = random.Random(5).randint(1, 2)
    with alongside(sweep(full)) as uninterrupted:  # baseline, base, sf=-0.3
        _kill(kill_on_line, sweep(part), lambda line: f'[sweep] {kill_after}/3 ' in line)
        log = run(sweep(part))
        finish(uninterrupted)
    assert f'{3 - kill_after} runs to do, {kill_after} done' in log

    def rows(folder):
        table = list(csv.DictReader(io.StringIO((folder / 'sweep.csv').read_text())))
        for r in table:
            assert float(r.pop('seconds')) >= 0
        return table

    assert rows(full) == rows(part) and len(rows(part)) == 3
    assert (part / 'summary.md').read_bytes() == (full / 'summary.md').read_bytes()
    same_files(full, part, 'seed_eval.json')
    no_tmp(tmp_path)
