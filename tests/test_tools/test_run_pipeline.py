"""``tools/run_pipeline.py`` for real, as docs/user_guides/segmentation.md shows it.

The documented command is the quick first look (16 synthetic images, one
epoch per training stage, two DeepLab iterations: every stage of baseline
and DOEI in about a minute of CPU). The test reads it from the page, points
only ``--work-dir`` at a temporary folder and runs it in a fresh interpreter.
A second interpreter, started once for the module, runs two more scenarios
through the tool's ``main`` with a user's argv: too few images for
AffinityNet's batch (refused before anything trains) and the documented
command again (nothing recomputed).
"""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / 'docs/user_guides/segmentation.md'
STAGES = ('stage1_train', 'cams', 'seed_eval', 'affinity_train', 'pseudo_masks', 'mask_eval', 'seg_train',
          'seg_test')  # mmdoei.apis.pipeline.STAGES (test_pipeline.py imports it)
OUTPUTS = {'stage1_train': ['stage1'], 'cams': ['cams'], 'seed_eval': ['seed_eval'],
           'affinity_train': ['stage2', 'cams_crf'], 'pseudo_masks': ['pseudo_masks', 'stage2_infer'],
           'mask_eval': ['mask_eval'], 'seg_train': ['stage3'], 'seg_test': ['stage3_test']}
PSA_TINY = ROOT / 'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py'

# One interpreter, two scenarios; prints one JSON line of outcomes.
SCENARIOS = r'''
import contextlib, io, json, runpy, sys
from pathlib import Path
tool = runpy.run_path('tools/run_pipeline.py', run_name='run_pipeline')
small, rerun = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
try:
    tool['main'](small)
    out['small'] = 'no error'
except ValueError as e:
    out['small'] = f'ValueError: {e}'
work = Path(small[small.index('--work-dir') + 1])
out['small_files'] = sorted(str(p.relative_to(work)) for p in work.rglob('*') if p.relative_to(work).parts[0] != 'data')
text = io.StringIO()
with contextlib.redirect_stdout(text):
    tool['main'](rerun)
out['rerun'] = text.getvalue()
print('OUTCOMES ' + json.dumps(out))
'''


def documented_command() -> str:
    """The page's ``python tools/run_pipeline.py`` command, continuation lines joined."""
    blocks = re.findall(r'```bash\n(.*?)```', PAGE.read_text(), re.S)
    lines = [ln.strip() for b in blocks for ln in re.sub(r'\\\n\s*', ' ', b).splitlines()]
    (cmd, ) = [ln for ln in lines if ln.startswith('python tools/run_pipeline.py ')]
    return cmd


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('run_pipeline')
    words = shlex.split(documented_command())
    words[words.index('--work-dir') + 1] = str(tmp / 'work')  # the only change to the documented command
    first = subprocess.run([sys.executable, *words[1:]], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                           timeout=1200)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    work = tmp / 'work'
    done = {p: p.stat().st_mtime_ns for p in work.glob('*/.done/*.json')}
    summary = (work / 'summary.json').read_text()
    small = [words[2], '--tiny', '--synthetic-images', '8', '--work-dir', str(tmp / 'small')]
    res = subprocess.run([sys.executable, '-c', SCENARIOS, json.dumps(small), json.dumps(words[2:])], cwd=ROOT,
                         env=os.environ, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (line, ) = [ln for ln in res.stdout.splitlines() if ln.startswith('OUTCOMES ')]
    return dict(words=words, first=first.stdout, work=work, small_dir=tmp / 'small', done=done, summary=summary,
                **json.loads(line[len('OUTCOMES '):]))


@pytest.mark.slow
def test_documented_quick_run_makes_every_stage_of_both_variants(runs):
    words, work = runs['words'], runs['work']
    # the page shows the quick first look (the full tiny run drops these options)
    assert words[:5] == ['python', 'tools/run_pipeline.py', 'configs/demo/mctformer-v2_vit-4l128_synthetic-64.py',
                         '--tiny', '--doei']
    opts = dict(zip(words[5::2], words[6::2]))
    assert opts == {'--synthetic-images': '16', '--stage1-epochs': '1', '--psa-epochs': '1', '--seg-iters': '2',
                    '--work-dir': str(work)}
    summary = json.loads(runs['summary'])
    assert set(summary['variants']) == {'baseline', 'doei'}
    md = (work / 'summary.md').read_text()
    for variant, row in summary['variants'].items():
        assert set(row) == {'seed_mIoU', 'seed_threshold', 'mask_mIoU', 'val_mIoU_single_scale', 'val_mIoU',
                            'seconds'}
        assert 0 <= row['seed_mIoU'] <= 100 and 0 <= row['mask_mIoU'] <= 100 and 0 <= row['val_mIoU'] <= 100
        assert f'| {variant} | {row["seed_mIoU"]:.1f} | {row["mask_mIoU"]:.1f} |' in md
        assert f'| {variant} | {row["seed_mIoU"]:.1f} |' in runs['first']  # the table is printed too
        base = work / variant
        for stage in STAGES:
            assert (base / '.done' / f'{stage}.json').is_file(), (variant, stage)
            for rel in OUTPUTS[stage]:
                assert (base / rel).exists(), (variant, stage, rel)
        # one CAM and one pseudo mask per train_aug image; each trained stage left its checkpoint
        assert len(list((base / 'cams').glob('*.npz'))) == 16 and len(list((base / 'pseudo_masks').glob('*.png'))) == 16
        for folder, ckpt in (('stage1', 'epoch_1.pth'), ('stage2', 'epoch_1.pth'), ('stage3', 'iter_2.pth')):
            assert (base / folder / ckpt).is_file(), (variant, folder)
    assert 'model = dict(doei=dict())' in (work / 'doei_stage1_config.py').read_text()


@pytest.mark.slow
def test_rerun_of_the_documented_command_recomputes_nothing(runs):
    assert '[pipeline]' not in runs['rerun'], runs['rerun'][:3000]  # no stage started
    assert len(runs['done']) == 2 * len(STAGES)
    assert {p: p.stat().st_mtime_ns for p in runs['done']} == runs['done']
    rows = json.loads(runs['summary'])['variants']
    assert f'| baseline | {rows["baseline"]["seed_mIoU"]:.1f} |' in runs['rerun']
    assert json.loads((runs['work'] / 'summary.json').read_text())['variants'] == rows


@pytest.mark.slow
def test_too_few_images_for_a_batch_are_refused_before_anything_trains(runs):
    """8 synthetic images passed stage 1 (32 per batch, the last one kept) and then stopped AffinityNet
    (16 per batch, drop_last) with mmengine's "epoch_length must be a positive integer"."""
    split = runs['small_dir'] / 'data/VOC2012/ImageSets/Segmentation/train_aug.txt'
    assert runs['small'] == (
        f'ValueError: {PSA_TINY}: affinity_train would get no batch: its train_dataloader takes batches of 16 with '
        f'drop_last=True, but the list file {split} gives 8 images (--synthetic-images 8 writes 8 train_aug '
        'images). mmengine would stop with "epoch_length must be a positive integer" after the stages before it; '
        'give at least 16 images or a smaller train_dataloader.batch_size.')
    # no stage ran, no marker, no DOEI config: only the data, and the work directory's lock file (left in place)
    assert runs['small_files'] == ['.mmdoei.lock']
