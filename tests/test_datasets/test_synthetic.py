"""The synthetic VOC / COCO makers: layout, determinism, designed statistics."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmdoei.datasets import COCO_CATEGORIES, VOC_CLASSES, voc_palette
from projects.wsss_lab.synthetic import make_synthetic_coco, make_synthetic_voc


def _lines(path):
    return Path(path).read_text().split()


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(Path(root).rglob('*')) if p.is_file()}


def test_voc_palette_matches_devkit():
    pal = voc_palette()
    assert len(pal) == 768
    assert pal[0:3] == [0, 0, 0] and pal[3:6] == [128, 0, 0] and pal[15 * 3:16 * 3] == [192, 128, 128]
    assert pal[255 * 3:] == [224, 224, 192]


def test_voc_layout_and_splits(synthetic_voc):
    root = Path(synthetic_voc)
    assert root.name == 'VOC2012'
    sets = root / 'ImageSets' / 'Segmentation'
    train, val = _lines(sets / 'train.txt'), _lines(sets / 'val.txt')
    train_aug, trainval = _lines(sets / 'train_aug.txt'), _lines(sets / 'trainval.txt')
    assert (len(train_aug), len(val), len(train)) == (30, 10, 15)
    assert set(train) <= set(train_aug) and not set(val) & set(train_aug)
    assert trainval == sorted(train + val)
    for lst in (train, val, train_aug):
        assert lst == sorted(lst)
    all_ids = train_aug + val
    assert all(re.fullmatch(r'20(0[7-9]|1[01])_\d{6}', i) for i in all_ids)
    for i in all_ids:
        assert (root / 'JPEGImages' / f'{i}.jpg').is_file()
        assert (root / 'SegmentationClassAug' / f'{i}.png').is_file()
    # VOC's own masks exist for train + val only, as in the real devkit
    assert sorted(p.stem for p in (root / 'SegmentationClass').glob('*.png')) == trainval


def test_voc_images_and_masks(synthetic_voc):
    root = Path(synthetic_voc)
    labels = {
        ln.split()[0]: [int(c) for c in ln.split()[1:]]
        for ln in (root / 'ImageSets/Segmentation/cls_labels.txt').read_text().splitlines()
    }
    assert len(labels) == 40
    n_multi = 0
    for img_id, classes in labels.items():
        with Image.open(root / 'JPEGImages' / f'{img_id}.jpg') as img:
            assert img.mode == 'RGB' and img.size == (64, 48)  # (W, H): non-square works
        with Image.open(root / 'SegmentationClassAug' / f'{img_id}.png') as m:
            assert m.mode == 'P'
            assert m.getpalette()[:768] == voc_palette()
            mask = np.asarray(m)
        values = set(np.unique(mask).tolist())
        assert values <= set(range(21)) | {255}
        assert classes == sorted(v - 1 for v in values - {0, 255})
        assert 1 <= len(classes) <= 3
        n_multi += len(classes) > 1
        assert 255 in values
        # The 255 band separates every object from everything else: no class
        # pixel touches a pixel of another value (background or class) directly.
        for a, b in ((mask[1:], mask[:-1]), (mask[:, 1:], mask[:, :-1])):
            touching = (a != b) & (a != 255) & (b != 255)
            assert not touching.any(), img_id
    assert n_multi >= 5


def test_voc_deterministic(tmp_path):
    kw = dict(num_train=6, num_val=2, img_size=(40, 56))
    a = _files(make_synthetic_voc(tmp_path / 'a', seed=3, **kw).parent)
    b = _files(make_synthetic_voc(tmp_path / 'b', seed=3, **kw).parent)
    c = _files(make_synthetic_voc(tmp_path / 'c', seed=4, **kw).parent)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert a != c
    assert not [p for p in a if p.name.endswith('.tmp')]


def test_voc_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='too small'):
        make_synthetic_voc(tmp_path, img_size=(32, 64))
    with pytest.raises(ValueError, match='num_classes'):
        make_synthetic_voc(tmp_path, num_classes=21)


@pytest.fixture(scope='module')
def stats_set(tmp_path_factory):
    """A larger, smaller-image set for the designed statistics."""
    root = make_synthetic_voc(
        tmp_path_factory.mktemp('stats'), num_train=400, num_val=0, img_size=(40, 40), seed=1)
    meta = json.loads((root.parent / 'synthetic_meta.json').read_text())
    return meta['images']


@pytest.mark.slow
def test_voc_context_backgrounds(stats_set):
    """Classes sit on 'their' background most of the time (co-occurrence with
    context): boats on water, aeroplanes on sky, cows on grass."""
    for cls, bg in (('boat', 'water'), ('aeroplane', 'sky'), ('cow', 'grass'), ('sofa', 'indoor')):
        primaries = [
            im for im in stats_set
            if im['objects'] and cls in im['objects'] and VOC_CLASSES.index(cls) in im['classes']
        ]
        on_bg = np.mean([im['background'] == bg for im in primaries])
        assert len(primaries) >= 8 and on_bg >= 0.6, (cls, len(primaries), on_bg)


def test_voc_class_cooccurrence(stats_set):
    """Persons come with bicycles / horses / motorbikes far more often than
    their base rate (pooled: each class alone has too few images here)."""
    person = VOC_CLASSES.index('person')
    rides = {VOC_CLASSES.index(c) for c in ('bicycle', 'horse', 'motorbike')}
    labels = [set(im['classes']) for im in stats_set]
    base = np.mean([person in s for s in labels])
    with_ride = [s for s in labels if s & rides]
    cond = np.mean([person in s for s in with_ride])
    assert len(with_ride) >= 40 and cond >= 0.45 and cond > base + 0.25, (len(with_ride), cond, base)
    for c in rides:
        assert np.mean([person in s for s in labels if c in s]) > base


def test_every_class_survives_in_the_labels(stats_set):
    """No class is so thin that the 255 band erases it at the smallest size."""
    for im in stats_set:
        assert {VOC_CLASSES.index(o) for o in im['objects']} == set(im['classes']), im


def test_coco_layout(synthetic_coco):
    root = Path(synthetic_coco)
    valid_ids = [cid for cid, _, _ in COCO_CATEGORIES]
    assert len(valid_ids) == 80 and max(valid_ids) == 90
    for split, n in (('train2014', 20), ('val2014', 10)):
        doc = json.loads((root / 'annotations' / f'instances_{split}.json').read_text())
        assert set(doc) == {'info', 'licenses', 'images', 'annotations', 'categories'}
        assert [c['id'] for c in doc['categories']] == valid_ids
        assert len(doc['images']) == n
        stems = _lines(root / f'{split[:-4]}_id.txt')
        assert stems == [Path(im['file_name']).stem for im in doc['images']]
        images = {im['id']: im for im in doc['images']}
        for im in doc['images']:
            assert re.fullmatch(rf'COCO_{split}_\d{{12}}\.jpg', im['file_name'])
            assert im['file_name'] == f'COCO_{split}_{im["id"]:012d}.jpg'
            assert (root / split / im['file_name']).is_file()
        for ann in doc['annotations']:
            im = images[ann['image_id']]
            with Image.open(root / 'SegmentationClass' / split /
                            im['file_name'].replace('.jpg', '.png')) as m:
                assert m.mode == 'L'
                sem = np.asarray(m)
            # decode the uncompressed RLE (column-major runs, 0s first)
            h, w = ann['segmentation']['size']
            flat = np.zeros(h * w, bool)
            pos = 0
            for k, run in enumerate(ann['segmentation']['counts']):
                flat[pos:pos + run] = k % 2 == 1
                pos += run
            inst = flat.reshape((h, w), order='F')
            assert inst.sum() == ann['area'] > 0
            x, y, bw, bh = ann['bbox']
            ys, xs = np.nonzero(inst)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + bw, y + bh)
            assert np.all(sem[inst] == valid_ids.index(ann['category_id']) + 1)
            assert ann['iscrowd'] == 0


def test_coco_deterministic(tmp_path):
    a = _files(make_synthetic_coco(tmp_path / 'a', num_train=3, num_val=2, img_size=(40, 40), seed=5))
    b = _files(make_synthetic_coco(tmp_path / 'b', num_train=3, num_val=2, img_size=(40, 40), seed=5))
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)


@pytest.fixture(scope='module')
def heldout_set(tmp_path_factory):
    """The held-out style at the statistics set's size and seed."""
    root = make_synthetic_voc(tmp_path_factory.mktemp('heldout'), num_train=400, num_val=0, img_size=(40, 40),
                              seed=1, style='heldout')
    return root, json.loads((root.parent / 'synthetic_meta.json').read_text())


def test_heldout_set_has_its_own_backgrounds_and_context(heldout_set, stats_set):
    from projects.wsss_lab.synthetic import BACKGROUNDS, HELDOUT_BACKGROUNDS
    root, meta = heldout_set
    assert meta['style'] == 'heldout' and not set(BACKGROUNDS) & set(HELDOUT_BACKGROUNDS)
    images = meta['images']
    assert {im['background'] for im in images} == set(HELDOUT_BACKGROUNDS)
    # its own context: boats on snow and cows on sand, never on the demo set's water and grass
    for cls, bg in (('boat', 'snow'), ('cow', 'sand')):
        primaries = [im for im in images if cls in im['objects']]
        assert np.mean([im['background'] == bg for im in primaries]) >= .45, cls
    # its own co-occurrence: sheep with cows far above the base rate; in the demo set they are not paired
    sheep, cow = VOC_CLASSES.index('sheep'), VOC_CLASSES.index('cow')

    def cond(ims):
        labels = [set(im['classes']) for im in ims]
        return np.mean([cow in s for s in labels if sheep in s]), np.mean([cow in s for s in labels])

    held, held_base = cond(images)
    demo, demo_base = cond(stats_set)
    assert held > held_base + .25 and demo < demo_base + .15, (held, held_base, demo, demo_base)


def test_heldout_images_differ_from_the_demo_sets(heldout_set, tmp_path):
    root, _ = heldout_set
    demo = make_synthetic_voc(tmp_path, num_train=400, num_val=0, img_size=(40, 40), seed=1)
    # other ids and other pixels: no image of one set is an image of the other
    held_ids = set(_lines(root / 'ImageSets/Segmentation/train_aug.txt'))
    demo_ids = set(_lines(demo / 'ImageSets/Segmentation/train_aug.txt'))
    shared = held_ids & demo_ids
    assert len(shared) < len(held_ids) / 2
    for img_id in sorted(shared)[:20]:
        a = np.asarray(Image.open(root / 'JPEGImages' / f'{img_id}.jpg'), np.float32)
        b = np.asarray(Image.open(demo / 'JPEGImages' / f'{img_id}.jpg'), np.float32)
        assert np.abs(a - b).mean() > 20
    # every class still appears, labelled as in VOC
    labels = {int(c) for line in (root / 'ImageSets/Segmentation/cls_labels.txt').read_text().splitlines()
              for c in line.split()[1:]}
    assert labels == set(range(20))


def test_heldout_style_is_deterministic_and_checked(tmp_path):
    kw = dict(num_train=4, num_val=1, img_size=(40, 40), seed=0, style='heldout')
    a = _files(make_synthetic_voc(tmp_path / 'a', **kw).parent)
    b = _files(make_synthetic_voc(tmp_path / 'b', **kw).parent)
    assert a == b
    with pytest.raises(ValueError, match=r"style must be one of \['demo', 'heldout'\], got 'coco'"):
        make_synthetic_voc(tmp_path / 'c', style='coco')


def test_voc_annotation_xml_in_the_devkit_format(synthetic_voc):
    """Annotations/{id}.xml as VOC's: size, one <object> per visible object with a
    1-based bndbox that bounds its mask pixels, names that are the mask's classes."""
    from xml.etree import ElementTree
    root = Path(synthetic_voc)
    for img_id in _lines(root / 'ImageSets/Segmentation/trainval.txt'):
        ann = ElementTree.parse(root / 'Annotations' / f'{img_id}.xml').getroot()
        assert ann.tag == 'annotation' and ann.findtext('filename') == f'{img_id}.jpg'
        w, h = int(ann.findtext('size/width')), int(ann.findtext('size/height'))
        mask = np.asarray(Image.open(root / 'SegmentationClassAug' / f'{img_id}.png'))
        assert mask.shape == (h, w)
        boxes = {}
        for obj in ann.findall('object'):
            x0, y0, x1, y1 = (int(obj.findtext(f'bndbox/{k}')) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            assert 1 <= x0 <= x1 <= w and 1 <= y0 <= y1 <= h
            assert obj.findtext('difficult') == '0'
            cover = boxes.setdefault(obj.findtext('name'), np.zeros((h, w), bool))
            cover[y0 - 1:y1, x0 - 1:x1] = True
        present = {VOC_CLASSES[v - 1] for v in np.unique(mask) if v not in (0, 255)}
        assert set(boxes) == present
        for name, cover in boxes.items():  # the class's pixels lie inside its boxes
            assert not ((mask == VOC_CLASSES.index(name) + 1) & ~cover).any(), (img_id, name)


def test_ensure_synthetic_voc_keeps_the_record_of_before_the_move(tmp_path, capsys):
    """ensure_synthetic_voc moved from mmdoei.apis.pipeline to projects/wsss_lab (issue 24): its step kind and
    fields are what a folder written before the move holds, so a rerun reuses that folder instead of refusing it."""
    from mmdoei import __version__
    from projects.wsss_lab.data import ensure_synthetic_voc
    root = ensure_synthetic_voc(str(tmp_path), 4, img_size=40, num_val=1)
    assert root == tmp_path / 'data/VOC2012' and '[data] writing' in capsys.readouterr().out
    record_file = tmp_path / 'data/.mmdoei-record.json'
    record = json.loads(record_file.read_text())
    assert record['kind'] == 'synthetic_voc'
    assert record['fields'] == dict(code=__version__, img_size=40, num_train=4, num_val=1, seed=0, style='demo')
    assert record['results'] == dict(data_root=str(root))
    before = record_file.stat().st_mtime_ns
    assert ensure_synthetic_voc(str(tmp_path), 4, img_size=40, num_val=1) == root
    assert capsys.readouterr().out == '' and record_file.stat().st_mtime_ns == before


def test_ensure_synthetic_voc_overwrites_only_the_files_it_writes(tmp_path):
    """Its outputs were the whole VOC2012/ folder: --overwrite deleted a user's file there (issue 24). Now the
    files the generator writes go (all of them: no image of the old set is left), other files stay; a set of
    other arguments is still refused, and its hint says "elsewhere" once."""
    from projects.wsss_lab.data import ensure_synthetic_voc
    root = ensure_synthetic_voc(str(tmp_path), 4, img_size=40, num_val=1, seed=0)
    (root / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError) as err:
        ensure_synthetic_voc(str(tmp_path), 4, img_size=40, num_val=1, seed=1)
    assert str(err.value).startswith(f'synthetic data folder {tmp_path / "data"} holds outputs made with other '
                                     'settings (old -> new):\n  seed: 0 -> 1\n'), str(err.value)
    assert str(err.value).endswith('Write elsewhere, or rerun with --overwrite (overwrite=True in the API) to delete '
                                   'its outputs and start again.')
    ensure_synthetic_voc(str(tmp_path), 4, img_size=40, num_val=1, seed=1, overwrite=True)
    assert (root / 'notes.txt').read_text() == 'mine'
    meta = json.loads((tmp_path / 'data/synthetic_meta.json').read_text())
    assert meta['seed'] == 1
    # no image of the old set is left beside the new one (the seed changes the ids)
    assert sorted(p.stem for p in (root / 'JPEGImages').iterdir()) == sorted(m['id'] for m in meta['images'])
