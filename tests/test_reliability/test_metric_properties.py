"""Property tests of the seed metric against plain reference computations
written here (pixel loops and per-threshold seeds), on random
prediction / ground-truth pairs and random CAMs."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmdoei.cam.seeds import cams_to_seed
from mmdoei.evaluation.metrics.seed_metric import SeedMetric
from mmdoei.evaluation.scores import SeedSweep, confusion_matrix, iou_fp_fn

IGNORE = 255


@st.composite
def pairs(draw):
    n = draw(st.integers(2, 5))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    values = st.one_of(st.integers(0, n - 1), st.just(IGNORE))
    gt = draw(hnp.arrays(np.uint8, (h, w), elements=values))
    pred = draw(hnp.arrays(np.uint8, (h, w), elements=values))
    return n, pred, gt


def reference_metrics(pairs_, n):
    """mIoU / FP / FN by counting pixels one by one (docs/method.md, "Metrics")."""
    tp, t, p = np.zeros(n), np.zeros(n), np.zeros(n)
    for pred, gt in pairs_:
        for g, q in zip(gt.ravel().tolist(), pred.ravel().tolist()):
            if g == IGNORE:
                continue
            t[g] += 1
            if q != IGNORE:
                p[q] += 1
                tp[g] += q == g
    rows = [(tp[c] / u, (p[c] - tp[c]) / u, (t[c] - tp[c]) / u) for c in range(n)
            for u in [t[c] + p[c] - tp[c]] if u > 0]
    if not rows:
        return None
    return tuple(float(np.mean([r[i] for r in rows])) for i in range(3))


@given(n_pairs=st.lists(pairs(), min_size=1, max_size=3))
def test_mask_metric_equals_pixel_count(n_pairs):
    n = n_pairs[0][0]
    data = [(np.minimum(p, n - 1) * (p != IGNORE) + IGNORE * (p == IGNORE),
             np.minimum(g, n - 1) * (g != IGNORE) + IGNORE * (g == IGNORE)) for _, p, g in n_pairs]
    conf = np.zeros((n, n + 1), np.int64)
    for pred, gt in data:
        confusion_matrix(pred, gt, n, IGNORE, out=conf)
    ref = reference_metrics(data, n)
    got = iou_fp_fn(conf)
    if ref is None:
        assert np.isnan(got['miou'])
        return
    np.testing.assert_allclose([got['miou'], got['mfp'], got['mfn']], ref, rtol=1e-12)
    metric = SeedMetric(num_classes=n, class_names=[str(c) for c in range(n)])
    metric.process(None, [dict(pred_sem_seg=dict(data=p), gt_sem_seg=dict(data=g)) for p, g in data])
    res = metric.compute_metrics(metric.results)
    assert res == dict(mIoU=round(ref[0] * 100, 2), FP=round(ref[1] * 100, 2), FN=round(ref[2] * 100, 2))


@st.composite
def cam_cases(draw):
    n = draw(st.integers(2, 6))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    keys = draw(st.lists(st.integers(0, n - 2), max_size=n - 1, unique=True))
    # few distinct levels, so ties between classes and with thresholds happen
    cams = draw(hnp.arrays(np.float32, (len(keys), h, w), elements=st.sampled_from([0, .25, .5, .5, .75, 1.0, .3])))
    gt = draw(hnp.arrays(np.uint8, (h, w), elements=st.one_of(st.integers(0, n - 1), st.just(IGNORE))))
    return n, keys, cams, gt


def reference_seed(cams, keys, thr):
    """Per pixel: min-max normalise each map, top class (lowest id on a tie) if it beats thr."""
    seed = np.zeros(cams.shape[1:], np.int64)
    norm = []
    for m in cams:
        lo, hi = float(m.min()), float(m.max())
        norm.append(np.zeros_like(m) if hi == lo else (m - lo) / (hi - lo))
    for y in range(seed.shape[0]):
        for x in range(seed.shape[1]):
            best, label = -1.0, 0
            for k in sorted(range(len(keys)), key=lambda i: keys[i]):
                if norm[k][y, x] > best:
                    best, label = float(norm[k][y, x]), keys[k] + 1
            if label and np.float32(best) > np.float32(thr):
                seed[y, x] = label
    return seed


@given(cases=st.lists(cam_cases(), min_size=1, max_size=3),
       thresholds=st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9]), min_size=1, max_size=4,
                           unique=True).map(sorted))
def test_seed_sweep_equals_per_threshold_reference(cases, thresholds):
    n = cases[0][0]
    cases = [(keys if max(keys, default=0) <= n - 2 else [], cams if max(keys, default=0) <= n - 2 else cams[:0],
              np.where(gt == IGNORE, IGNORE, np.minimum(gt, n - 1))) for _, keys, cams, gt in cases]
    sweep = SeedSweep(n, thresholds, IGNORE)
    for keys, cams, gt in cases:
        sweep.add(cams, keys, gt)
    res = sweep.results()
    for j, thr in enumerate(thresholds):
        seeds = [(reference_seed(cams, keys, thr), gt) for keys, cams, gt in cases]
        for (keys, cams, _), (ref_seed, _) in zip(cases, seeds):
            np.testing.assert_array_equal(cams_to_seed(cams, keys, thr), ref_seed)
        ref = reference_metrics(seeds, n)
        if ref is None:
            assert np.isnan(res['miou'][j])
        else:
            np.testing.assert_allclose([res['miou'][j], res['mfp'][j], res['mfn'][j]], ref, rtol=1e-12)
