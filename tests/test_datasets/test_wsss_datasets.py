"""VOCWSSSDataset / COCOWSSSDataset built as an mmpretrain config would."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from mmpretrain.registry import DATASETS
from PIL import Image

import mmdoei.datasets  # noqa: F401  (registers the datasets)
from mmdoei.datasets import labels_from_mask

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32),
    dict(type='PackInputs', meta_keys=('img_id', 'img_path', 'seg_map_path')),
]


def voc(data_root, **kw):
    cfg = dict(
        type='VOCWSSSDataset',
        data_root=str(data_root),
        split='ImageSets/Segmentation/train_aug.txt',
        pipeline=PIPELINE)
    cfg.update(kw)
    return DATASETS.build(cfg)


def split_ids(root, name='train_aug'):
    return (Path(root) / 'ImageSets' / 'Segmentation' / f'{name}.txt').read_text().split()


@pytest.mark.slow
def test_voc_config_build_and_pipeline(synthetic_voc):
    ds = voc(synthetic_voc)
    assert len(ds) == 30 and ds.metainfo['classes'][0] == 'aeroplane'
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['img_id'] == Path(info['img_path']).stem
        gt = np.asarray(Image.open(info['seg_map_path']))
        assert info['gt_label'] == sorted(int(v) - 1 for v in np.unique(gt) if v not in (0, 255))
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 32, 32)
    ds_sample = sample['data_samples']
    assert ds_sample.img_id == ds.get_data_info(0)['img_id']
    assert ds_sample.gt_label.tolist() == ds.get_data_info(0)['gt_label']


@pytest.mark.slow
def test_voc_label_file_agrees_with_masks(synthetic_voc):
    from_masks = voc(synthetic_voc, split='ImageSets/Segmentation/trainval.txt')
    from_file = voc(
        synthetic_voc,
        split='ImageSets/Segmentation/trainval.txt',
        label_file='ImageSets/Segmentation/cls_labels.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'))
    assert len(from_file) == 25
    for i in range(len(from_file)):
        assert from_file.get_data_info(i)['gt_label'] == from_masks.get_data_info(i)['gt_label']
        assert from_file.get_data_info(i)['seg_map_path'].endswith('.png')


@pytest.mark.slow
def test_voc_label_file_without_masks(voc_copy):
    """With a label file, masks are optional: seg_map_path is None where absent."""
    victim = split_ids(voc_copy)[0]
    os.remove(voc_copy / 'SegmentationClassAug' / f'{victim}.png')
    ds = voc(voc_copy, label_file='ImageSets/Segmentation/cls_labels.txt')
    assert ds.get_data_info(0)['seg_map_path'] is None
    assert ds.get_data_info(1)['seg_map_path'] is not None


@pytest.mark.slow
def test_voc_psa_style_split_lines(voc_copy):
    ids = split_ids(voc_copy)
    psa = ''.join(f'/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n' for i in ids)
    (voc_copy / 'psa_train_aug.txt').write_text(psa)
    ds = voc(voc_copy, split='psa_train_aug.txt')
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ids


def test_voc_missing_images_named_up_front(voc_copy):
    ids = split_ids(voc_copy)
    for i in ids[:7]:
        os.remove(voc_copy / 'JPEGImages' / f'{i}.jpg')
    with pytest.raises(FileNotFoundError) as err:
        voc(voc_copy)
    msg = str(err.value)
    assert '7 of 30 images' in msg and 'train_aug.txt' in msg
    assert f'{ids[0]}.jpg' in msg and '... and 2 more' in msg


def test_voc_missing_mask_named(voc_copy):
    victim = split_ids(voc_copy)[3]
    os.remove(voc_copy / 'SegmentationClassAug' / f'{victim}.png')
    with pytest.raises(FileNotFoundError, match=f'1 of 30 masks.*\n.*{victim}.png'):
        voc(voc_copy, label_source='mask')
    # labels from the XML (the default) do not need the mask: the sample has none
    ds = voc(voc_copy)
    assert ds.get_data_info(3)['seg_map_path'] is None and ds.get_data_info(3)['gt_label']


@pytest.mark.slow
def test_voc_labels_follow_the_xml_where_the_mask_disagrees(voc_copy):
    """As PSA's cls_labels.npy: an object the XML lists but the mask misses is a label."""
    ids = split_ids(voc_copy)
    xml = voc_copy / 'Annotations' / f'{ids[0]}.xml'
    mask = voc_copy / 'SegmentationClassAug' / f'{ids[0]}.png'
    from_mask = labels_from_mask(str(mask), 20)
    extra = next(c for c in (14, 8, 1) if c not in from_mask)  # person, chair or bicycle
    name = ('aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike '
            'person pottedplant sheep sofa train tvmonitor').split()[extra]
    # a hidden object and a part name (VOC's person layout: <part><name>head</name>), which is no class
    xml.write_text(xml.read_text().replace(
        '</annotation>', f'\t<object>\n\t\t<name>{name}</name>\n\t\t<difficult>1</difficult>\n'
        '\t\t<part>\n\t\t\t<name>head</name>\n\t\t</part>\n\t</object>\n</annotation>'))
    assert voc(voc_copy).get_data_info(0)['gt_label'] == sorted(from_mask + [extra])
    assert voc(voc_copy, label_source='mask').get_data_info(0)['gt_label'] == from_mask
    for i in range(1, len(ids)):  # elsewhere the synthetic XML and masks agree
        assert voc(voc_copy).get_data_info(i)['gt_label'] == \
            labels_from_mask(str(voc_copy / 'SegmentationClassAug' / f'{ids[i]}.png'), 20)


def test_voc_missing_or_bad_xml_named(voc_copy):
    ids = split_ids(voc_copy)
    os.remove(voc_copy / 'Annotations' / f'{ids[5]}.xml')
    with pytest.raises(FileNotFoundError, match=f"1 of 30 annotation XMLs .*label_source='mask'.*\n.*{ids[5]}.xml"):
        voc(voc_copy)
    (voc_copy / 'Annotations' / f'{ids[5]}.xml').write_text('<annotation><object><name>cat</name>')
    with pytest.raises(ValueError, match=f'{ids[5]}.xml: not a well-formed VOC annotation XML'):
        voc(voc_copy)
    with pytest.raises(ValueError, match="label_source must be 'xml'"):
        voc(voc_copy, label_source='npy')


@pytest.mark.parametrize('row,match', [
    ('{id} 20', r'class index 20 out of range 0..19'),
    ('{id} -1', r'class index -1 out of range'),
    ('{id}', r'has 0 classes'),
    ('{id} ' + ' '.join(['1'] * 21), r'has 21 classes'),
    ('{id} 3 x', r'must be integers'),
    ('{id} 4 4', r'lists a class twice'),
])
def test_voc_bad_label_rows(voc_copy, row, match):
    label_file = voc_copy / 'ImageSets/Segmentation/cls_labels.txt'
    lines = label_file.read_text().splitlines()
    lines[2] = row.format(id=lines[2].split()[0])
    label_file.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ValueError, match=match) as err:
        voc(voc_copy, label_file='ImageSets/Segmentation/cls_labels.txt')
    assert 'cls_labels.txt:3' in str(err.value)


def test_voc_label_file_missing_rows(voc_copy):
    label_file = voc_copy / 'ImageSets/Segmentation/cls_labels.txt'
    keep = set(split_ids(voc_copy)[2:])
    label_file.write_text(''.join(ln + '\n' for ln in label_file.read_text().splitlines()
                                  if ln.split()[0] in keep))
    with pytest.raises(ValueError, match='2 of 30 images .* no row in label file'):
        voc(voc_copy, label_file='ImageSets/Segmentation/cls_labels.txt')


def test_voc_refuses_pickled_npy_labels(synthetic_voc):
    with pytest.raises(ValueError, match='pickled'):
        voc(synthetic_voc, label_file='cls_labels.npy')


@pytest.mark.slow
def test_voc_mask_modes(voc_copy):
    """L-mode masks (as SBD's SegmentationClassAug ships) read as palette ones;
    an RGB rendering is refused, naming the file."""
    ids = split_ids(voc_copy)
    p_path = voc_copy / 'SegmentationClassAug' / f'{ids[0]}.png'
    expected = labels_from_mask(str(p_path), 20)
    Image.fromarray(np.asarray(Image.open(p_path)), 'L').save(p_path)
    assert voc(voc_copy, label_source='mask').get_data_info(0)['gt_label'] == expected
    Image.open(p_path).convert('RGB').save(p_path)
    with pytest.raises(ValueError, match=f'{ids[0]}.png: a label image must be single-channel'):
        voc(voc_copy, label_source='mask')


@pytest.mark.slow
def test_grayscale_and_rgba_images_load_as_3_channels(voc_copy):
    ids = split_ids(voc_copy)
    rgb = np.asarray(Image.open(voc_copy / 'JPEGImages' / f'{ids[0]}.jpg'))
    gray = rgb.mean(-1).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1, ), 77, np.uint8)], -1)
    # Content decides the decoder, not the name: a PNG in a .jpg file is read.
    Image.fromarray(gray, 'L').save(voc_copy / 'JPEGImages' / f'{ids[0]}.jpg', format='PNG')
    Image.fromarray(rgba, 'RGBA').save(voc_copy / 'JPEGImages' / f'{ids[1]}.jpg', format='PNG')
    Image.fromarray(gray, 'L').save(voc_copy / 'JPEGImages' / f'{ids[2]}.jpg', format='JPEG', quality=95)
    ds = voc(voc_copy, pipeline=[dict(type='LoadImageFromFile')])
    img = ds[0]['img']
    assert img.shape == gray.shape + (3, ) and np.array_equal(img, np.repeat(gray[..., None], 3, -1))
    img = ds[1]['img']  # BGR, alpha dropped
    assert img.shape == rgb.shape and np.array_equal(img, rgb[..., ::-1])
    img = ds[2]['img']
    assert img.shape == gray.shape + (3, )
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])
    assert np.abs(img[..., 0].astype(int) - gray).mean() < 3


@pytest.mark.slow
def test_unreadable_image_named(voc_copy):
    victim = split_ids(voc_copy)[4]
    (voc_copy / 'JPEGImages' / f'{victim}.jpg').write_bytes(b'not an image at all')
    ds = voc(voc_copy, test_mode=True)
    with pytest.raises(Exception, match=f'{victim}.jpg'):
        ds[4]


def coco(data_root, **kw):
    cfg = dict(type='COCOWSSSDataset', data_root=str(data_root), pipeline=PIPELINE)
    cfg.update(kw)
    return DATASETS.build(cfg)


@pytest.mark.slow
def test_coco_config_build(synthetic_coco):
    ds = coco(synthetic_coco)
    doc = json.loads((synthetic_coco / 'annotations/instances_train2014.json').read_text())
    cat_ids = [c['id'] for c in doc['categories']]
    assert len(ds) == 20 and len(ds.metainfo['classes']) == 80 and ds.metainfo['classes'][-1] == 'toothbrush'
    by_stem = {Path(im['file_name']).stem: im['id'] for im in doc['images']}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        image_id = by_stem[info['img_id']]
        want = sorted(
            {cat_ids.index(a['category_id'])
             for a in doc['annotations'] if a['image_id'] == image_id})
        assert info['gt_label'] == want
        assert labels_from_mask(info['seg_map_path'], 80) == want
    assert tuple(ds[0]['inputs'].shape) == (3, 32, 32)
    val = coco(
        synthetic_coco,
        ann_file='annotations/instances_val2014.json',
        split='val_id.txt',
        data_prefix=dict(img_path='val2014', seg_map_path='SegmentationClass/val2014'))
    assert len(val) == 10 and val.get_data_info(0)['img_id'].startswith('COCO_val2014_')


@pytest.mark.slow
def test_coco_drops_unlabelled_images_and_checks_files(coco_copy):
    ann = coco_copy / 'annotations/instances_train2014.json'
    doc = json.loads(ann.read_text())
    bare = doc['images'][0]
    doc['annotations'] = [a for a in doc['annotations'] if a['image_id'] != bare['id']]
    ann.write_text(json.dumps(doc))
    ds = coco(coco_copy)
    assert len(ds) == 19 and all(
        ds.get_data_info(i)['img_id'] != Path(bare['file_name']).stem for i in range(len(ds)))
    os.remove(coco_copy / 'train2014' / doc['images'][1]['file_name'])
    with pytest.raises(FileNotFoundError, match=f'1 of 19 images.*\n.*{doc["images"][1]["file_name"]}'):
        coco(coco_copy)


def test_coco_split_naming_unknown_image(coco_copy):
    (coco_copy / 'bad_ids.txt').write_text('COCO_train2014_000000000001\n')
    with pytest.raises(ValueError, match='COCO_train2014_000000000001'):
        coco(coco_copy, split='bad_ids.txt')
