"""The procedural pretraining set: deterministic, disjoint from the VOC generator, readable by mmpretrain."""
import hashlib

import numpy as np
import pytest

from mmdoei.generators.procedural import SHAPES, TEXTURES, draw_procedural, make_procedural_pretrain, procedural_classes
from projects.wsss_lab import synthetic


def test_classes_are_the_sorted_shape_texture_grid():
    names = procedural_classes()
    assert len(names) == 100 == len(set(names))
    assert names == sorted(names)  # mmpretrain numbers class folders in sorted order
    assert {n.split('-')[0] for n in names} == set(SHAPES)
    assert {n.split('-')[1] for n in names} == set(TEXTURES)
    with pytest.raises(ValueError, match=r'num_classes must be in \[1, 100\], got 101'):
        procedural_classes(101)


def test_shapes_and_textures_are_not_the_voc_generators():
    voc_kinds = {part[0] for style in synthetic._VOC_STYLES.values() for part in style['parts']}
    generic_kinds = {part[0] for parts in synthetic._GENERIC_PARTS for part in parts}
    voc_textures = {style['texture'] for style in synthetic._VOC_STYLES.values()} | set(synthetic._TEXTURES)
    assert not set(SHAPES) & (voc_kinds | generic_kinds)
    assert not set(TEXTURES) & voc_textures
    # and the generator really does not know them
    for kind in SHAPES:
        with pytest.raises(ValueError, match='unknown part kind'):
            synthetic._part_mask(kind, np.zeros(1), np.zeros(1), 0, 0, 1, 1)


def test_images_are_deterministic_and_show_an_object():
    a = draw_procedural(7, np.random.default_rng((0, 0, 7, 3)))
    b = draw_procedural(7, np.random.default_rng((0, 0, 7, 3)))
    c = draw_procedural(7, np.random.default_rng((0, 0, 7, 4)))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # every shape covers a real part of the image at its smallest scale, and never all of it
    for cls in range(0, 100, 10):
        rng = np.random.default_rng(1)
        shape = procedural_classes()[cls].split('-')[0]
        yy, xx = np.mgrid[0:64, 0:64] / 63
        frac = SHAPES[shape]((xx - .5) / .175, (yy - .5) / .175).mean()
        assert 0.02 < frac < 0.2, shape
        assert draw_procedural(cls, rng).std() > 5


@pytest.mark.slow
def test_written_set_is_an_mmpretrain_custom_dataset(tmp_path):
    from mmpretrain.datasets import CustomDataset
    root = make_procedural_pretrain(tmp_path / 'proc', num_classes=3, num_train=2, num_val=1, progress=False)
    digest = {p.relative_to(root): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob('*.jpg')}
    assert len(digest) == 9
    ds = CustomDataset(data_root=str(root), data_prefix='train', pipeline=[])
    assert ds.metainfo['classes'] == tuple(procedural_classes()[:3])
    assert [int(ds.get_data_info(i)['gt_label']) for i in range(len(ds))] == [0, 0, 1, 1, 2, 2]
    assert (root / 'classes.txt').read_text().split() == procedural_classes()[:3]
    # the same seed writes the same bytes
    again = make_procedural_pretrain(tmp_path / 'again', num_classes=3, num_train=2, num_val=1, progress=False)
    assert {p.relative_to(again): hashlib.md5(p.read_bytes()).hexdigest() for p in again.rglob('*.jpg')} == digest
