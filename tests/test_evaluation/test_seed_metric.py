"""Seed metric: hand-computed cases, mmseg agreement, seeds and the sweep."""
import numpy as np
import pytest
import torch

from mmdoei.evaluation import (SeedMetric, SeedSweep, cams_to_seed, confusion_matrix, first_drop_index, iou_fp_fn,
                               load_cam, minmax_normalise)
from mmdoei.utils.io import save_npz_atomic

# GT and prediction of 6 pixels, 3 classes; the last GT pixel is ignored.
GT = np.array([[0, 0, 1], [1, 2, 255]])
PRED = np.array([[0, 1, 1], [2, 2, 0]])


def test_confusion_matrix_by_hand():
    conf = confusion_matrix(PRED, GT, 3)
    # rows: GT 0, 1, 2; columns: predicted 0, 1, 2, unlabelled
    assert conf.dtype == np.int64
    assert conf.tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0]]
    out = np.zeros((3, 4), np.int64)
    confusion_matrix(PRED, GT, 3, out=out)
    confusion_matrix(PRED, GT, 3, out=out)
    assert np.array_equal(out, 2 * conf)


def test_iou_fp_fn_by_hand():
    r = iou_fp_fn(confusion_matrix(PRED, GT, 3))
    # class 0: TP 1, T 2, P 1 -> union 2;  class 1: TP 1, T 2, P 2 -> union 3
    # class 2: TP 1, T 1, P 2 -> union 2
    np.testing.assert_allclose(r['iou'], [1 / 2, 1 / 3, 1 / 2])
    np.testing.assert_allclose(r['fp'], [0 / 2, 1 / 3, 1 / 2])
    np.testing.assert_allclose(r['fn'], [1 / 2, 1 / 3, 0 / 2])
    assert r['miou'] == pytest.approx(4 / 9)
    assert r['mfp'] == pytest.approx(5 / 18)
    assert r['mfn'] == pytest.approx(5 / 18)
    np.testing.assert_allclose(r['iou'] + r['fp'] + r['fn'], 1)


def test_absent_class_is_nan_and_skipped_like_mmseg():
    r4 = iou_fp_fn(confusion_matrix(PRED, GT, 4))  # class 3 in neither map
    assert np.isnan(r4['iou'][3]) and np.isnan(r4['fp'][3]) and np.isnan(r4['fn'][3])
    assert r4['miou'] == pytest.approx(4 / 9) and r4['mfp'] == pytest.approx(5 / 18)
    empty = iou_fp_fn(np.zeros((2, 3), np.int64))
    assert np.isnan(empty['miou'])


def test_unlabelled_prediction_counts_as_miss():
    pred = PRED.copy()
    pred[0, 2] = 255  # a pseudo mask's ignore pixel on a GT class-1 pixel
    conf = confusion_matrix(pred, GT, 3)
    assert conf[1].tolist() == [0, 0, 1, 1]
    r = iou_fp_fn(conf)
    # class 1: TP 0, T 2, P 1 -> IoU 0, FP 1/3, FN 2/3
    np.testing.assert_allclose([r['iou'][1], r['fp'][1], r['fn'][1]], [0, 1 / 3, 2 / 3])


def test_confusion_matrix_rejects_bad_values():
    with pytest.raises(ValueError, match='GT value 7'):
        confusion_matrix(PRED, np.where(GT == 2, 7, GT), 3)
    with pytest.raises(ValueError, match='prediction value 5'):
        confusion_matrix(np.where(PRED == 2, 5, PRED), GT, 3)
    with pytest.raises(ValueError, match='shape'):
        confusion_matrix(PRED[:, :2], GT, 3)


def _random_case(rng, n_img=5, num_classes=6, shape=(17, 23)):
    preds, gts = [], []
    for _ in range(n_img):
        gt = rng.integers(0, num_classes - 1, shape)  # class num_classes-1 never in GT
        gt[rng.random(shape) < 0.1] = 255
        pred = np.where(rng.random(shape) < 0.6, gt, rng.integers(0, num_classes - 1, shape))
        pred[gt == 255] = rng.integers(0, num_classes - 1, int((gt == 255).sum()))
        preds.append(pred)
        gts.append(gt)
    return preds, gts


def test_matches_mmseg_iou_metric():
    # mmseg.evaluation needs mmcv's compiled ops, which tools/install.sh builds:
    # without them this test must fail, not pass silently.
    from mmseg.evaluation import IoUMetric

    num_classes = 6
    preds, gts = _random_case(np.random.default_rng(0), num_classes=num_classes)
    samples = [
        dict(
            pred_sem_seg=dict(data=torch.from_numpy(p)[None]),
            gt_sem_seg=dict(data=torch.from_numpy(g)[None])) for p, g in zip(preds, gts)
    ]

    ref = IoUMetric(iou_metrics=['mIoU'])
    ref.dataset_meta = dict(classes=[f'c{i}' for i in range(num_classes)])
    ref.process({}, samples)
    totals = [sum(r[k] for r in ref.results) for k in range(4)]
    ref_iou = IoUMetric.total_area_to_metrics(*totals, ['mIoU'])['IoU']

    conf = np.zeros((num_classes, num_classes + 1), np.int64)
    for p, g in zip(preds, gts):
        confusion_matrix(p, g, num_classes, out=conf)
    ours = iou_fp_fn(conf)
    assert np.isnan(ours['iou'][-1]) and np.isnan(ref_iou[-1])  # the absent class
    np.testing.assert_allclose(ours['iou'], np.asarray(ref_iou, np.float64), atol=1e-6, equal_nan=True)
    # also the per-class areas
    np.testing.assert_array_equal(conf.sum(1), totals[3].numpy())
    np.testing.assert_array_equal(conf[:, :num_classes].sum(0), totals[2].numpy())

    metric = SeedMetric(num_classes=num_classes)
    metric.process({}, samples)
    mine = metric.evaluate(len(samples))
    assert mine['seed/mIoU'] == pytest.approx(ref.compute_metrics(ref.results)['mIoU'], abs=1e-6)
    assert mine['seed/mIoU'] == pytest.approx(round(ours['miou'] * 100, 2))


def test_cams_to_seed_ties_and_threshold():
    # two maps given out of class order: class 3 first, then class 1
    cams = np.array([[[0.50, 0.25, 0.90, 0.10]], [[0.50, 0.20, 0.30, 0.20]]], np.float32)
    seed = cams_to_seed(cams, [3, 1], bg_threshold=0.25, normalize=False)
    # pixel 0: classes tie at 0.5 -> lower class id (1) wins -> label 2
    # pixel 1: top score 0.25 == threshold -> background (PSA argmax: bg first)
    # pixel 2: class 3 at 0.9 -> label 4;  pixel 3: below threshold -> 0
    assert seed.tolist() == [[2, 0, 4, 0]]
    assert cams_to_seed(cams, [3, 1], bg_threshold=0.0, normalize=False).tolist() == [[2, 4, 4, 2]]
    # no labelled class: all background
    assert cams_to_seed(np.zeros((0, 1, 4)), [], 0.0).tolist() == [[0, 0, 0, 0]]


def test_cams_to_seed_normalises_per_class():
    raw = np.array([[[2.0, 4.0, 6.0]], [[10.0, 10.0, 30.0]]])  # -> [0, .5, 1] and [0, 0, 1]
    np.testing.assert_allclose(minmax_normalise(raw), [[[0, .5, 1]], [[0, 0, 1]]])
    assert cams_to_seed(raw, [0, 5], 0.4).tolist() == [[0, 1, 1]]
    # constant map: no localisation, all zeros, never foreground
    assert minmax_normalise(np.full((1, 2, 2), 3.0)).tolist() == [[[0, 0], [0, 0]]]
    # already normalised maps are left as they are (no epsilon in the range)
    cams = np.random.default_rng(0).random((2, 5, 5)).astype(np.float32)
    cams = minmax_normalise(cams)
    np.testing.assert_array_equal(minmax_normalise(cams), cams)


def test_sweep_equals_per_threshold_evaluation():
    rng = np.random.default_rng(1)
    thresholds = [0.0, 0.1, 0.25, 0.4, 0.5, 0.75, 0.9]
    sweep = SeedSweep(num_classes=5, thresholds=thresholds)
    brute = np.zeros((len(thresholds), 5, 6), np.int64)
    for _ in range(4):
        keys = np.sort(rng.choice(4, rng.integers(0, 3), replace=False))
        # quantised scores so that many pixels sit exactly on a threshold
        cams = np.round(rng.random((len(keys), 9, 11)) * 20) / 20
        gt = rng.integers(0, 5, (9, 11))
        gt[0, :3] = 255
        sweep.add(cams, keys, gt)
        for j, t in enumerate(thresholds):
            confusion_matrix(cams_to_seed(cams, keys, t), gt, 5, out=brute[j])
    np.testing.assert_array_equal(sweep.confusions(), brute[:, :, :5])
    res = sweep.results()
    for j in range(len(thresholds)):
        assert res['miou'][j] == pytest.approx(iou_fp_fn(brute[j])['miou'])


def test_sweep_picks_the_separating_threshold():
    # one image, one class (id 2): object pixels score 0.45 (and one 1.0),
    # background 0.35 (and one 0.0); only 0.4 separates them.
    gt = np.zeros((4, 4), np.int64)
    gt[:2] = 3
    cam = np.where(gt == 3, 0.45, 0.35)
    cam[0, 0], cam[3, 3] = 1.0, 0.0
    sweep = SeedSweep(num_classes=4, thresholds=[0.1, 0.2, 0.3, 0.4, 0.5])
    sweep.add(cam[None], [2], gt)
    res = sweep.results()
    assert res['best_threshold'] == 0.4 and res['best_index'] == 3
    assert res['best']['miou'] == pytest.approx(1.0)
    assert res['mfp'][2] > 0 and res['mfn'][4] > 0  # too low: FP; too high: FN
    assert res['num_images'] == 1


def test_first_drop_rule_by_hand():
    """MCTformer's evaluation.py: walk 0.00..0.59, stop at the first mIoU that does not rise."""
    t = np.round(np.arange(0, 0.96, 0.01), 2)
    miou = np.full(t.size, 0.1)
    miou[:11] = np.linspace(0.30, 0.40, 11)  # rises to 0.40 at t = 0.10
    miou[11] = 0.39                           # a dip at 0.11 ...
    miou[12:40] = 0.45                        # ... then higher, at 0.12..0.39
    assert first_drop_index(t, miou) == 10    # the authors stop at the dip: 0.10
    assert int(np.argmax(miou)) == 12         # the best over the sweep: 0.12
    miou[11] = 0.41                           # no dip: rises to 0.45 at 0.12, then flat
    assert first_drop_index(t, miou) == 12
    rising = np.linspace(0.1, 0.9, t.size)    # rising all the way: stops at 0.59 (their last)
    assert t[first_drop_index(t, rising)] == 0.59
    assert first_drop_index(t, np.zeros(t.size)) == 0  # nothing above 0: their best_thr stays 0
    assert first_drop_index([0.0, 0.1], [np.nan, 0.5]) == 0


def test_sweep_reports_both_rules():
    # noisy CAMs of two classes: results() carries the authors' choice on its own curve
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 3, (20, 20))
    cams = np.stack([np.where(gt == 1, 0.6, 0.3), np.where(gt == 2, 0.5, 0.2)]) + rng.normal(0, .15, (2, 20, 20))
    sweep = SeedSweep(num_classes=3)
    sweep.add(np.clip(cams, 0, 1), [0, 1], gt)
    res = sweep.results()
    i = first_drop_index(res['thresholds'], res['miou'])
    assert res['first_drop_index'] == i and res['first_drop_threshold'] == pytest.approx(res['thresholds'][i])
    assert res['first_drop']['miou'] == pytest.approx(res['miou'][i])
    assert res['first_drop']['miou'] <= res['best']['miou']


def test_sweep_rejects_bad_input():
    with pytest.raises(ValueError, match='increasing'):
        SeedSweep(thresholds=[0.5, 0.2])
    sweep = SeedSweep(num_classes=3, thresholds=[0.5])
    with pytest.raises(ValueError, match='CAM size'):
        sweep.add(np.zeros((1, 4, 4)), [0], np.zeros((4, 5)))
    with pytest.raises(ValueError, match='GT value 9'):
        sweep.add(np.zeros((1, 4, 4)), [0], np.full((4, 4), 9))
    with pytest.raises(ValueError, match='out of range'):
        sweep.add(np.zeros((1, 4, 4)), [2], np.zeros((4, 4)))


def test_seed_metric_cam_mode_matches_sweep():
    rng = np.random.default_rng(2)
    samples, sweep = [], SeedSweep(num_classes=21)
    for _ in range(3):
        keys = np.sort(rng.choice(20, 2, replace=False))
        cams = rng.random((2, 8, 8)).astype(np.float16)
        gt = rng.choice(np.r_[0, keys + 1, 255], (8, 8))
        sweep.add(cams, keys, gt)
        # mmpretrain DataSample.to_dict(): gt_label is a tensor of class ids
        samples.append(
            dict(
                cams=torch.from_numpy(cams),
                gt_label=torch.from_numpy(keys),
                gt_sem_seg=dict(data=torch.from_numpy(gt)[None])))
    metric = SeedMetric(num_classes=21)
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    assert len(metric.results) == 1  # accumulated in place, not per sample
    out = metric.evaluate(3)
    res = sweep.results()
    assert out['seed/bg_threshold'] == res['best_threshold']
    assert out['seed/mIoU'] == round(res['best']['miou'] * 100, 2)
    assert out['seed/FP'] == round(res['best']['mfp'] * 100, 2)


def test_seed_metric_is_registered():
    from mmpretrain.registry import METRICS
    assert METRICS.get('SeedMetric') is SeedMetric
    try:
        from mmseg.registry import METRICS as SEG_METRICS
    except ImportError:
        return
    assert SEG_METRICS.get('SeedMetric') is SeedMetric


def _cam_file(tmp_path, **arrays):
    path = tmp_path / '2007_000001.npz'
    save_npz_atomic(path, **arrays)
    return path


def test_load_cam_good(tmp_path):
    path = _cam_file(tmp_path, keys=np.array([4, 0]), cams=np.random.rand(2, 3, 5).astype(np.float16))
    keys, cams = load_cam(str(path))
    assert keys.dtype == np.int64 and keys.tolist() == [4, 0] and cams.shape == (2, 3, 5)


@pytest.mark.parametrize('arrays,match', [
    (dict(keys=np.array([0]), cams=np.array([[[np.nan, 0.]]], np.float16)), 'NaN/inf'),
    (dict(keys=np.array([0]), cams=np.array([[[np.inf, 0.]]], np.float32)), 'NaN/inf'),
    (dict(keys=np.array([20]), cams=np.zeros((1, 2, 2), np.float16)), r'out of range 0..19'),
    (dict(keys=np.array([1, 1]), cams=np.zeros((2, 2, 2), np.float16)), 'repeated keys'),
    (dict(keys=np.array([1, 2]), cams=np.zeros((1, 2, 2), np.float16)), '2 keys but 1 maps'),
    (dict(keys=np.array([1]), cams=np.zeros((2, 2), np.float16)), r'float \(K, H, W\)'),
    (dict(keys=np.array([1.0]), cams=np.zeros((1, 2, 2), np.float16)), 'integer'),
    (dict(cams=np.zeros((1, 2, 2), np.float16)), "missing array.*keys"),
])
def test_load_cam_bad_files_named(tmp_path, arrays, match):
    path = _cam_file(tmp_path, **arrays)
    with pytest.raises(ValueError, match=match) as err:
        load_cam(str(path))
    assert str(path) in str(err.value)


def test_load_cam_truncated(tmp_path):
    path = _cam_file(tmp_path, keys=np.array([0]), cams=np.zeros((1, 20, 20), np.float16))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='truncated or corrupt') as err:
        load_cam(str(path))
    assert str(path) in str(err.value)
