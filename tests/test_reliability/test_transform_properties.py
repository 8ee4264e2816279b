"""Property tests of the transforms of stages 2 and 3 on random image, CAM and
mask sizes: a sample of consistent shapes and values comes out, or a
``ValueError`` naming the file."""
import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmdoei.cam.io import save_cam
from mmdoei.datasets.transforms import (CAMToSeed, LoadAffinityLabelFromCAM, LoadCAMFromFile, LoadPseudoMask,
                                        PoolAffinityLabel, RandomPad)
from mmdoei.datasets.transforms.processing import RandomRescale
from mmdoei.utils.files import label_png_bytes

PER_EXAMPLE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
sizes = st.tuples(st.integers(1, 24), st.integers(1, 24))


@st.composite
def cam_samples(draw):
    """A sample (image of some size, labels) and a CAM file of maybe another size and classes."""
    hw = draw(sizes)
    labels = draw(st.lists(st.integers(0, 19), min_size=1, max_size=3, unique=True))
    cam_hw = draw(st.just(hw) | sizes)
    keys = draw(st.just(labels) | st.lists(st.integers(0, 19), max_size=3, unique=True))
    cams = draw(hnp.arrays(np.float32, (len(keys), *cam_hw), elements=st.floats(0, 1, width=32)))
    return hw, labels, keys, cams


def _sample(hw, labels, rng):
    img = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
    return dict(img=img, img_id='x', ori_shape=hw, img_shape=hw, gt_label=np.array(labels))


def _consistent(hw, labels, keys, cams):
    return sorted(labels) == sorted(keys) and cams.shape[1:] == tuple(hw)


@PER_EXAMPLE
@given(case=cam_samples(), thr=st.floats(0, 1))
@example(case=((3, 5), [2], [2], np.zeros((1, 3, 5), np.float32)), thr=0.0)
def test_cam_loaders(tmp_path, case, thr):
    hw, labels, keys, cams = case
    save_cam(tmp_path / 'x.npz', keys, cams)
    path = str(tmp_path / 'x.npz')
    for transform in (LoadCAMFromFile(str(tmp_path)), CAMToSeed(str(tmp_path), thr)):
        try:
            out = transform(_sample(hw, labels, np.random.default_rng(0)))
        except ValueError as e:
            assert path in str(e) and not _consistent(hw, labels, keys, cams), str(e)
            continue
        assert _consistent(hw, labels, keys, cams)
        if 'gt_seg_map' in out:
            seed = out['gt_seg_map']
            assert seed.shape == tuple(hw) and seed.dtype == np.uint8
            assert set(np.unique(seed).tolist()) <= {0} | {k + 1 for k in labels}
        else:
            assert out['cams'].shape == (len(labels), *hw) and out['cam_keys'].tolist() == sorted(labels)


@settings(PER_EXAMPLE, max_examples=30)  # the CRF is the slow part
@given(case=cam_samples(), crop=sizes, stride=st.sampled_from([1, 4, 8]), crf=st.booleans())
def test_affinity_labels(tmp_path, case, crop, stride, crf):
    hw, labels, keys, cams = case
    save_cam(tmp_path / 'x.npz', keys, cams)
    load = LoadAffinityLabelFromCAM(str(tmp_path), crf=dict(iterations=2) if crf else None)
    try:
        out = load(_sample(hw, labels, np.random.default_rng(0)))
    except ValueError as e:
        assert str(tmp_path / 'x.npz') in str(e) and not _consistent(hw, labels, keys, cams)
        return
    assert _consistent(hw, labels, keys, cams)
    np.random.seed(0)
    out = PoolAffinityLabel(stride)(RandomPad(crop, seg_pad_val=dict(aff_scores=0))(out))
    padded = (max(hw[0], crop[0]), max(hw[1], crop[1]))
    assert out['img'].shape == (*padded, 3)
    label = out['gt_aff_label']
    assert label.shape == (-(-padded[0] // stride), -(-padded[1] // stride))
    assert set(np.unique(label).tolist()) <= {0, 255} | {k + 1 for k in labels}


@given(hw=sizes, ratio=st.tuples(st.floats(0.05, 2), st.floats(0, 1)), seed=st.integers(0, 100))
@example(hw=(1, 1), ratio=(0.4, 0.0), seed=0)
def test_random_rescale(hw, ratio, seed):
    low, high = ratio[0], ratio[0] + ratio[1]
    np.random.seed(seed)
    gt = np.arange(hw[0] * hw[1], dtype=np.uint8).reshape(hw)
    results = dict(img=np.zeros((*hw, 3), np.uint8), gt_seg_map=gt, seg_fields=['gt_seg_map'], img_shape=hw)
    out = RandomRescale((low, high))(results)
    h, w = out['img'].shape[:2]
    assert h >= 1 and w >= 1 and out['gt_seg_map'].shape == (h, w) and out['img_shape'] == (h, w)
    # nearest-neighbour: the mask keeps only values it had
    assert set(np.unique(out['gt_seg_map']).tolist()) <= set(np.unique(gt).tolist())
    assert abs(h - hw[0] * low) <= hw[0] * (high - low) + 1 and abs(w - hw[1] * low) <= hw[1] * (high - low) + 1


@PER_EXAMPLE
@given(hw=sizes, mask_hw=sizes, labels=st.lists(st.integers(0, 19), min_size=1, max_size=3, unique=True),
       values=st.lists(st.integers(0, 255), min_size=1, max_size=4))
def test_load_pseudo_mask(tmp_path, hw, mask_hw, labels, values):
    mask = np.resize(np.array(values, np.uint8), mask_hw)
    (tmp_path / 'x.png').write_bytes(label_png_bytes(mask))
    ok = mask_hw == hw and set(values) <= {0, 255} | {c + 1 for c in labels}
    try:
        out = LoadPseudoMask(str(tmp_path))(dict(img_id='x', ori_shape=hw, gt_label=np.array(labels)))
    except ValueError as e:
        assert str(tmp_path / 'x.png') in str(e) and not ok
        return
    assert ok
    np.testing.assert_array_equal(out['gt_seg_map'], mask)
