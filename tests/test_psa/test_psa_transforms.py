"""Stage-2 transforms and CAM checks: hand-made inputs, expected outputs and
error messages that name the file and the problem."""
import os

import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS
from PIL import Image

from mmdoei.cam.io import check_cam_folder, read_cam
from mmdoei.datasets.transforms import (CAMToSeed, LoadAffinityLabelFromCAM, LoadCAMFromFile, LoadPseudoMask,
                                        PoolAffinityLabel, RandomPad)
from mmdoei.utils.crf import dense_crf
from mmdoei.utils.io import save_npz_atomic


def write_cam(path, keys, cams):
    save_npz_atomic(path, keys=np.asarray(keys, np.int64), cams=np.asarray(cams, np.float16))
    return str(path)


def write_png(path, arr, mode):
    Image.fromarray(np.asarray(arr, np.uint8), mode).save(path)
    return str(path)


def sample(img_id, labels, hw, img=None):
    img = np.full(hw + (3, ), 128, np.uint8) if img is None else img
    return dict(img_id=img_id, gt_label=list(labels), img=img, ori_shape=hw, img_shape=hw)


@pytest.mark.parametrize('name', ['LoadAffinityLabelFromCAM', 'RandomPad', 'PoolAffinityLabel', 'LoadCAMFromFile',
                                  'CAMToSeed', 'LoadPseudoMask'])
def test_registered_for_both_stages(name):
    assert PRETRAIN_TRANSFORMS.get(name) is SEG_TRANSFORMS.get(name) is not None


# ---------------------------------------------------------------- CAM files
def test_read_cam_sorts_by_class(tmp_path):
    cams = np.stack([np.full((2, 3), 0.25), np.full((2, 3), 1.0)])
    path = write_cam(tmp_path / 'a.npz', [14, 2], cams)
    keys, out = read_cam(path, labels=[2, 14], img_shape=(2, 3))
    assert keys.tolist() == [2, 14]
    assert out[0, 0, 0] == 1.0 and out[1, 0, 0] == 0.25 and out.dtype == np.float32


def test_read_cam_errors_name_file_and_problem(tmp_path):
    good = write_cam(tmp_path / 'good.npz', [3], np.ones((1, 4, 5)))
    with pytest.raises(ValueError, match=r'missing\.npz: CAM file does not exist'):
        read_cam(str(tmp_path / 'missing.npz'))
    trunc = tmp_path / 'trunc.npz'
    data = open(good, 'rb').read()
    trunc.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r'trunc\.npz: .*truncated or corrupt'):
        read_cam(str(trunc))
    with pytest.raises(ValueError, match=r'good\.npz: CAM classes \[3\] disagree with the image labels \[3, 5\] '
                                         r'\(no map for labelled classes \[5\]\)'):
        read_cam(good, labels=[3, 5])
    with pytest.raises(ValueError, match=r'good\.npz: CAM classes \[3\] disagree .* \(classes \[3\] not in'):
        read_cam(good, labels=[4])
    with pytest.raises(ValueError, match=r'good\.npz: CAM size 4x5 differs from the image size 5x4'):
        read_cam(good, labels=[3], img_shape=(5, 4))
    big = write_cam(tmp_path / 'big.npz', [3], np.full((1, 4, 5), 3.0))
    with pytest.raises(ValueError, match=r'big\.npz: CAM values span \[3, 3\]'):
        read_cam(big)


def test_check_cam_folder_lists_every_bad_file_up_front(tmp_path):
    cam_dir, img_dir = tmp_path / 'cams', tmp_path / 'img'
    cam_dir.mkdir(), img_dir.mkdir()
    samples = []
    for name, labels in (('ok', [1]), ('gone', [1]), ('cut', [1]), ('cls', [1]), ('size', [1])):
        samples.append(dict(img_id=name, gt_label=labels, img_path=write_png(img_dir / f'{name}.png',
                                                                             np.zeros((6, 8, 3)), 'RGB')))
    write_cam(cam_dir / 'ok.npz', [1], np.ones((1, 6, 8)))
    data = open(write_cam(cam_dir / 'cut.npz', [1], np.ones((1, 6, 8))), 'rb').read()
    (cam_dir / 'cut.npz').write_bytes(data[:-30])
    write_cam(cam_dir / 'cls.npz', [1, 7], np.ones((2, 6, 8)))
    write_cam(cam_dir / 'size.npz', [1], np.ones((1, 8, 6)))
    assert check_cam_folder(str(cam_dir), samples[:1]) == 1
    with pytest.raises(ValueError) as err:
        check_cam_folder(str(cam_dir), samples)
    msg = str(err.value)
    assert msg.startswith(f'4 of 5 CAM files in {cam_dir} are unusable')
    assert f'{cam_dir}/gone.npz: CAM file does not exist' in msg
    assert f'{cam_dir}/cut.npz: cannot read as .npz' in msg
    assert f'{cam_dir}/cls.npz: CAM classes [1, 7] disagree with the image labels [1]' in msg
    assert f'{cam_dir}/size.npz: CAM size 8x6 differs from the image size 6x8' in msg
    assert 'ok.npz' not in msg
    with pytest.raises(ValueError, match='does not exist'):
        check_cam_folder(str(tmp_path / 'nowhere'), samples)


# ------------------------------------------------------------ seed / loading
def test_load_cam_from_file_checks_against_the_sample(tmp_path):
    write_cam(tmp_path / 'x.npz', [6], np.ones((1, 3, 4)))
    t = LoadCAMFromFile(str(tmp_path))
    out = t(sample('x', [6], (3, 4)))
    assert out['cam_keys'].tolist() == [6] and out['cams'].shape == (1, 3, 4)
    with pytest.raises(ValueError, match=r'x\.npz: CAM size 3x4 differs from the image size 4x4'):
        t(sample('x', [6], (4, 4)))


def test_cam_to_seed_by_hand(tmp_path):
    cams = np.array([[[1.0, 0.6, 0.0], [0.3, 0.0, 0.0]],    # class 2
                     [[0.0, 0.8, 0.0], [0.0, 0.5, 1.0]]])   # class 7
    write_cam(tmp_path / 'x.npz', [2, 7], cams)
    out = CAMToSeed(str(tmp_path), bg_threshold=0.4)(sample('x', [2, 7], (2, 3)))
    # top class where it beats 0.4, else background; values are class + 1
    assert out['gt_seg_map'].tolist() == [[3, 8, 0], [0, 8, 8]]
    assert out['gt_seg_map'].dtype == np.uint8 and 'gt_seg_map' in out['seg_fields']


def test_load_pseudo_mask_checks_size_and_classes(tmp_path):
    write_png(tmp_path / 'x.png', [[0, 3, 255], [0, 3, 3]], 'L')
    t = LoadPseudoMask(str(tmp_path))
    out = t(sample('x', [2], (2, 3)))
    assert out['gt_seg_map'].tolist() == [[0, 3, 255], [0, 3, 3]] and 'gt_seg_map' in out['seg_fields']
    with pytest.raises(ValueError, match=r'x\.png: pseudo mask is 2x3 but the image is 3x3'):
        t(sample('x', [2], (3, 3)))
    with pytest.raises(ValueError, match=r'x\.png: pseudo mask has class\(es\) \[2\] \(values \[3\]\) that the '
                                         r'image is not labelled with \(labels \[5\]\)'):
        t(sample('x', [5], (2, 3)))
    with pytest.raises(ValueError, match=r'y\.png: pseudo mask does not exist'):
        t(sample('y', [2], (2, 3)))
    # labels from a label file when the sample has none
    (tmp_path / 'labels.txt').write_text('x 4\n')
    res = sample('x', [], (2, 3))
    del res['gt_label']
    with pytest.raises(ValueError, match=r'class\(es\) \[2\]'):
        LoadPseudoMask(str(tmp_path), label_file=str(tmp_path / 'labels.txt'))(res)
    # no labels at all: only the value range
    write_png(tmp_path / 'z.png', [[0, 30]], 'L')
    res = sample('z', [], (1, 2))
    del res['gt_label']
    with pytest.raises(ValueError, match=r'z\.png: pseudo mask values \[30\] are not classes 0..20'):
        LoadPseudoMask(str(tmp_path))(res)


# ------------------------------------------------------ AffinityNet's labels
def test_affinity_scores_and_labels_by_hand(tmp_path):
    # One class (id 9), a 2 x 6 image, three 2 x 2 blocks with CAM 1, .1 and 0.
    cam = np.repeat(np.array([[1.0, 1.0, 0.1, 0.1, 0.0, 0.0]]), 2, axis=0)[None]
    write_cam(tmp_path / 'x.npz', [9], cam)
    t = LoadAffinityLabelFromCAM(str(tmp_path), low_alpha=4, high_alpha=32, crf=None)
    out = t(sample('x', [9], (2, 6)))
    scores = out['aff_scores']
    assert scores.shape == (2, 6, 4) and out['aff_score_values'].tolist() == [0, 10]
    bg_low, bg_high = 0.9**4, 0.9**32  # at CAM .1 (float16 .1 ~ .09998)
    np.testing.assert_allclose(scores[0, :, 0], [0, 0, bg_low, bg_low, 1, 1], rtol=1e-3)
    np.testing.assert_allclose(scores[0, :, 2], [0, 0, bg_high, bg_high, 1, 1], rtol=1e-3)
    np.testing.assert_allclose(scores[0, :, 1], scores[0, :, 3])
    out = PoolAffinityLabel(stride=2)(out)
    # block 1: confident class -> 10; block 2: low alpha says bg (.66 > .1) but high alpha
    # says class (.03 < .1) -> unknown 255; block 3: background in both -> 0.
    assert out['gt_aff_label'].tolist() == [[10, 255, 0]]
    assert 'aff_scores' not in out and 'aff_scores' not in out['seg_fields']


def test_affinity_label_needs_the_image_at_cam_size(tmp_path):
    write_cam(tmp_path / 'x.npz', [9], np.ones((1, 2, 6)))
    res = sample('x', [9], (2, 6), img=np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match='before any resize or crop'):
        LoadAffinityLabelFromCAM(str(tmp_path), crf=None)(res)
    with pytest.raises(ValueError, match=r'x\.npz: CAM classes \[9\] disagree'):
        LoadAffinityLabelFromCAM(str(tmp_path), crf=None)(sample('x', [8], (2, 6)))


def test_dense_crf_and_the_label_cache(tmp_path):
    rng = np.random.default_rng(0)
    img = np.zeros((24, 32, 3), np.uint8)
    img[:, 16:] = (200, 30, 30)  # a red right half
    cam = np.clip(np.linspace(-0.3, 1.2, 32)[None].repeat(24, 0) + rng.normal(0, .1, (24, 32)), 0, 1)
    write_cam(tmp_path / 'x.npz', [0], cam[None])
    q = dense_crf(img, np.stack([1 - cam, cam]))
    np.testing.assert_allclose(q.sum(0), 1, atol=1e-5)
    # the CRF snaps the class to the colour edge at column 16
    assert (q.argmax(0)[:, 17:] == 1).mean() > 0.95 and (q.argmax(0)[:, :12] == 0).mean() > 0.95

    cache = tmp_path / 'cache'
    t = LoadAffinityLabelFromCAM(str(tmp_path), cache_dir=str(cache))
    first = t(sample('x', [0], (24, 32), img))['aff_scores']
    assert os.listdir(cache) == ['x.npz']
    np.testing.assert_allclose(first[..., :2].sum(-1), 1, atol=1e-4)
    # A cached entry is used as stored (float16): tamper with it to see it is read.
    data = dict(np.load(cache / 'x.npz'))
    data['low'] = np.zeros_like(data['low'])
    np.savez_compressed(cache / 'x.npz', **data)
    assert np.all(t(sample('x', [0], (24, 32), img))['aff_scores'][..., :2] == 0)
    # Other settings: the fingerprint differs, so the entry is recomputed and replaced.
    t2 = LoadAffinityLabelFromCAM(str(tmp_path), low_alpha=2, high_alpha=32, cache_dir=str(cache))
    again = t2(sample('x', [0], (24, 32), img))['aff_scores']
    np.testing.assert_allclose(again[..., :2].sum(-1), 1, atol=1e-4)
    # A damaged entry is recomputed, not an error.
    (cache / 'x.npz').write_bytes(b'not a zip')
    np.testing.assert_allclose(t2(sample('x', [0], (24, 32), img))['aff_scores'], again, atol=2e-3)


def test_random_pad_places_the_image_in_a_container():
    img = np.full((2, 3, 3), 7, np.uint8)
    res = dict(img=img, aff_scores=np.ones((2, 3, 2), np.float32), gt_seg_map=np.ones((2, 3), np.uint8),
               seg_fields=['aff_scores', 'gt_seg_map'])
    np.random.seed(1)
    out = RandomPad(4, img_pad_val=(1, 2, 3), seg_pad_val=dict(aff_scores=0))(res)
    top, left = out['pad_offset']
    assert 0 <= top <= 2 and 0 <= left <= 1 and out['img_shape'] == (4, 4)
    assert (out['img'][top:top + 2, left:left + 3] == 7).all()
    outside = np.ones((4, 4), bool)
    outside[top:top + 2, left:left + 3] = False
    assert (out['img'][outside] == (1, 2, 3)).all()
    assert (out['aff_scores'][outside] == 0).all() and (out['aff_scores'][~outside] == 1).all()
    assert (out['gt_seg_map'][outside] == 255).all()
    offsets = set()
    for seed in range(40):
        np.random.seed(seed)
        offsets.add(RandomPad(4)(dict(img=img))['pad_offset'])
    assert offsets == {(t, l) for t in range(3) for l in range(2)}  # every placement occurs
    big = RandomPad(2, random_offset=False)(dict(img=img))
    assert big['img'].shape == (2, 3, 3) and big['pad_offset'] == (0, 0)
