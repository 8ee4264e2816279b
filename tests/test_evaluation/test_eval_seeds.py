"""tools/analysis_tools/eval_seeds.py on the synthetic VOC set: outputs, and
bad inputs named before any output is written."""
import json
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmdoei.datasets import read_label_png, voc_palette
from mmdoei.evaluation import evaluate_cam_dir
from mmdoei.utils.io import save_npz_atomic

TOOL = Path(__file__).parents[2] / 'tools' / 'analysis_tools' / 'eval_seeds.py'
SPLIT = 'ImageSets/Segmentation/train.txt'


@pytest.fixture(scope='module')
def tool_main():
    return runpy.run_path(str(TOOL), run_name='eval_seeds')['main']


def ids_of(root):
    return (Path(root) / SPLIT).read_text().split()


def write_cams(root, cam_dir, fg=0.8, bg=0.3):
    """CAMs from the GT: ``fg`` on the class, ``bg`` elsewhere, plus one 1.0
    and one 0.0 pixel so min-max normalisation leaves them alone."""
    for img_id in ids_of(root):
        gt = read_label_png(str(Path(root) / 'SegmentationClassAug' / f'{img_id}.png'))
        keys = np.array(sorted(set(np.unique(gt).tolist()) - {0, 255}), np.int64) - 1
        cams = np.stack([np.where(gt == k + 1, fg, bg) for k in keys]).astype(np.float16)
        cams[:, 0, 0], cams[:, -1, -1] = 1.0, 0.0
        save_npz_atomic(Path(cam_dir) / f'{img_id}.npz', keys=keys, cams=cams)


@pytest.fixture(scope='module')
def cam_dir(synthetic_voc, tmp_path_factory):
    d = tmp_path_factory.mktemp('cams')
    write_cams(synthetic_voc, d)
    return d


def run(tool_main, root, out, *extra):
    tool_main(['--data-root', str(root), '--split', SPLIT, '--out-dir', str(out), '--no-progress', *extra])


@pytest.mark.slow
def test_cam_sweep_outputs(tool_main, synthetic_voc, cam_dir, tmp_path, capsys):
    out = tmp_path / 'out'
    run(tool_main, synthetic_voc, out, '--cam-dir', str(cam_dir), '--thresholds', '0:0.96:0.05', '0.42')
    report = json.loads((out / 'seed_eval.json').read_text())
    assert report['mode'] == 'cam' and report['num_images'] == 15 and report['num_classes'] == 21
    # fg 0.8 vs bg 0.3: any threshold in [0.3, 0.8) separates them except for
    # the two pinned pixels; the best is the first one above 0.3
    assert report['best_threshold'] == 0.35
    assert report['mIoU'] > 99 and report['FP'] < 1 and report['FN'] < 1
    curve = report['curve']
    assert len(curve['threshold']) == 21 and 0.42 in curve['threshold']
    assert curve['FP'][0] > 10 and curve['FN'][-1] > 10  # threshold 0: all fg; 0.95: all bg
    assert set(report['per_class']) >= {'background', 'aeroplane', 'tvmonitor'}
    for name in ('seed_curve.png', 'seed_classes.png'):
        with Image.open(out / name) as img:
            assert img.format == 'PNG' and img.size[0] > 100
    printed = capsys.readouterr().out
    assert 'best background threshold 0.35' in printed and 'tvmonitor' in printed
    # the MCTformer authors' rule next to it: the first drop over 0..0.59 of the same curve
    from mmdoei.evaluation import first_drop_index
    i = first_drop_index(curve['threshold'], curve['mIoU'])
    assert report['authors_rule']['threshold'] == curve['threshold'][i]
    assert report['authors_rule']['mIoU'] == curve['mIoU'][i]
    assert f"authors' rule (first drop over 0..0.59): threshold {curve['threshold'][i]:.2f}" in printed


def test_pred_dir_mode(tool_main, synthetic_voc, tmp_path):
    pred_dir = tmp_path / 'pred'
    pred_dir.mkdir()
    ids = ids_of(synthetic_voc)
    for k, img_id in enumerate(ids):
        gt = read_label_png(str(synthetic_voc / 'SegmentationClassAug' / f'{img_id}.png'))
        pred = np.where(gt == 255, 0, gt).astype(np.uint8)
        img = Image.fromarray(pred, 'L')
        if k % 2:  # palette and grayscale predictions both read
            img = img.convert('P')
            img.putpalette(voc_palette())
        img.save(pred_dir / f'{img_id}.png')
    out = tmp_path / 'out'
    run(tool_main, synthetic_voc, out, '--pred-dir', str(pred_dir))
    report = json.loads((out / 'seed_eval.json').read_text())
    assert report['mode'] == 'mask' and report['mIoU'] == 100.0 and 'best_threshold' not in report
    assert (out / 'seed_classes.png').is_file() and not (out / 'seed_curve.png').exists()


def _assert_untouched(out):
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == ['seed_eval.json']
    if out.exists():
        assert (out / 'seed_eval.json').read_text() == 'earlier result'


@pytest.fixture
def broken(synthetic_voc, cam_dir, tmp_path):
    """A private CAM folder to damage and an out dir holding an earlier result."""
    d = shutil.copytree(cam_dir, tmp_path / 'cams')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'seed_eval.json').write_text('earlier result')
    return d, out, ids_of(synthetic_voc)


def test_missing_cam_and_gt_listed_up_front(tool_main, synthetic_voc, broken, tmp_path):
    cams, out, ids = broken
    (cams / f'{ids[1]}.npz').unlink()
    with pytest.raises(FileNotFoundError) as err:
        run(tool_main, synthetic_voc, out, '--cam-dir', str(cams))
    msg = str(err.value)
    assert f'{ids[1]}.npz' in msg and '1 of 15 CAM files' in msg and 'train.txt' in msg
    _assert_untouched(out)

    # an image id with no GT mask (and the CAM still missing): both listed
    gt_dir = shutil.copytree(synthetic_voc / 'SegmentationClassAug', tmp_path / 'gt')
    (gt_dir / f'{ids[4]}.png').unlink()
    with pytest.raises(FileNotFoundError) as err:
        evaluate_cam_dir(str(cams), str(gt_dir), ids, progress=False)
    msg = str(err.value)
    assert f'{ids[1]}.npz' in msg and '1 of 15 GT masks' in msg and f'{ids[4]}.png' in msg


def test_bad_cam_files_named_and_nothing_written(tool_main, synthetic_voc, broken):
    cams, out, ids = broken
    truncated = cams / f'{ids[2]}.npz'
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ValueError, match='truncated or corrupt') as err:
        run(tool_main, synthetic_voc, out, '--cam-dir', str(cams))
    assert str(truncated) in str(err.value)
    _assert_untouched(out)

    write_cams(synthetic_voc, cams)  # repair, then break the size of one
    wrong = cams / f'{ids[3]}.npz'
    save_npz_atomic(wrong, keys=np.array([0]), cams=np.zeros((1, 10, 10), np.float16))
    with pytest.raises(ValueError) as err:
        run(tool_main, synthetic_voc, out, '--cam-dir', str(cams))
    msg = str(err.value)
    assert str(
        wrong) in msg and f'SegmentationClassAug/{ids[3]}.png' in msg and '10x10' in msg and '48x64' in msg
    _assert_untouched(out)

    write_cams(synthetic_voc, cams)  # a NaN is only seen when the data is read
    nan = cams / f'{ids[-1]}.npz'
    data = np.load(nan)
    bad = data['cams'].copy()
    bad[0, 5, 5] = np.nan
    save_npz_atomic(nan, keys=data['keys'], cams=bad)
    with pytest.raises(ValueError, match='NaN') as err:
        run(tool_main, synthetic_voc, out, '--cam-dir', str(cams))
    assert str(nan) in str(err.value)
    _assert_untouched(out)
