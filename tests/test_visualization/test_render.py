"""The one CAM renderer, and show_cams / --overlay PNGs drawn by it."""
import cv2
import numpy as np
import pytest

from mmdoei.apis import show_cams
from mmdoei.cam import save_overlays
from mmdoei.cam.render import CAMRenderer, scale_cams

H, W = 40, 48


@pytest.fixture(scope='module')
def sample():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:H, :W]
    cams = np.stack([np.exp(-((yy - 15) ** 2 + (xx - 15) ** 2) / 60),
                     0.5 * np.exp(-((yy - 25) ** 2 + (xx - 35) ** 2) / 80)]).astype(np.float32)
    seed = np.zeros((H, W), np.int64)
    seed[cams[0] > 0.5], seed[cams[1] > 0.25] = 8, 12  # cat (7) and dog (11)
    scores = np.zeros(20, np.float32)
    scores[7], scores[11] = 0.99, 0.5
    return dict(image=img, cams=cams, labels=[7, 11], scores=scores, seed=seed)


def test_scalings():
    cams = np.stack([np.full((2, 2), 0.5), np.array([[0, 1], [1, 1]])]).astype(np.float32)
    per = scale_cams(cams, 'per_class')
    assert per[0].tolist() == [[0, 0], [0, 0]] and per[1].tolist() == [[0, 1], [1, 1]]
    shared = scale_cams(cams, 'shared', scores=[1.0, 0.5])
    assert shared[0].tolist() == [[1, 1], [1, 1]] and shared[1].tolist() == [[0, 1], [1, 1]]  # 0.5 vs 0.5
    with pytest.raises(ValueError, match="scaling must be one of \\('per_class', 'shared'\\), got 'max'"):
        scale_cams(cams, 'max')


def test_show_cams_is_the_renderer_with_names_scores_and_legend(sample, tmp_path):
    out = tmp_path / 'row.png'
    row = show_cams(None, sample, out_file=str(out))
    # VOC names by default (not 0-based indices), scores, seeds: the renderer's picture exactly
    ref = CAMRenderer().render(sample['image'], sample['cams'], [7, 11], show_cams.__globals__['seg_class_names'](
        21)[1:], scores=sample['scores'], seed=sample['seed'])
    np.testing.assert_array_equal(row, ref)
    np.testing.assert_array_equal(cv2.imread(str(out))[..., ::-1], row)
    # image, cat, dog, seeds: tiles enlarged x4 to 192 px, one row of 4, then captions, colour bar, legend
    assert row.shape[1] == 4 * 192 and row.shape[0] > 4 * H + 60
    np.testing.assert_array_equal(row[:4 * H:4, :4 * W:4], sample['image'])
    # the caption band under the tiles is white paper with dark text on it
    band = row[4 * H:4 * H + 20]
    assert (band == 255).all(axis=2).mean() > 0.7 and (band.max(axis=2) < 100).any()


def test_rows_wrap_after_max_cols(sample):
    labels = [7, 11, 7, 11, 7]
    cams = np.concatenate([sample['cams']] * 3)[:5]
    one = CAMRenderer(max_cols=3).render(sample['image'], cams, labels, [f'c{i}' for i in range(20)])
    assert one.shape[1] == 3 * 192  # 6 tiles (image + 5 maps) in rows of 3
    many = CAMRenderer(max_cols=6).render(sample['image'], cams, labels, [f'c{i}' for i in range(20)])
    assert many.shape[1] == 6 * 192 and many.shape[0] < one.shape[0]


def test_overlay_pngs_show_the_image_and_a_label(sample, tmp_path):
    save_overlays(tmp_path, 'img1', sample['image'], [7, 11], sample['cams'], ['c%d' % i for i in range(20)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['img1_c11.png', 'img1_c7.png']
    png = cv2.imread(str(tmp_path / 'img1_c7.png'))[..., ::-1]
    # not a bare heat map: the image itself, then the overlay, side by side, with captions and a colour bar
    assert png.shape[1] == 2 * 192 and png.shape[0] > 4 * H
    np.testing.assert_array_equal(png[:4 * H:4, :4 * W:4], sample['image'])
