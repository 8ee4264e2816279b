"""The dataset converters (tools/dataset_converters/voc_aug.py, coco_wsss.py) and the checker
(check_dataset.py) on small inputs in the official formats, made here: a VOC 2012 tar, SBD's
tgz with ``cls/*.mat`` in its ``GTcls`` struct layout (scipy), COCO instances jsons and
COCO-Stuff maps. Expected outputs are written out by hand. The commands of docs/datasets.md
are the ones run here (``test_docs_commands``).

The builders (``make_voc_tree``, ``make_sbd_tree``, ``tar_folder``, ``make_coco_tree``) are
also used by test_real_photos.py with the labelme-examples photos.
"""
import io
import json
import re
import runpy
import shlex
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools' / 'dataset_converters'


# --------------------------------------------------------------------------- builders
def write_label(path: Path, label: np.ndarray) -> None:
    from mmdoei.utils.files import label_png_bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(label_png_bytes(np.asarray(label, np.uint8)))


def voc_xml(img_id: str, size, objects: List[str], difficult=(), parts: Optional[Dict[str, List[str]]] = None) -> str:
    """A VOC annotation XML; ``difficult`` names objects marked difficult, ``parts`` their ``<part>``s."""
    parts = parts or {}
    objs = ''
    for name in objects:
        part_xml = ''.join(f'<part><name>{p}</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>'
                           f'<ymax>2</ymax></bndbox></part>' for p in parts.get(name, []))
        objs += (f'<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>'
                 f'<difficult>{int(name in difficult)}</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>'
                 f'<xmax>2</xmax><ymax>2</ymax></bndbox>{part_xml}</object>')
    return (f'<annotation><folder>VOC2012</folder><filename>{img_id}.jpg</filename><size><width>{size[1]}</width>'
            f'<height>{size[0]}</height><depth>3</depth></size><segmented>1</segmented>{objs}</annotation>')


def make_voc_tree(base: Path, images: Dict[str, Image.Image], xmls: Dict[str, str], masks: Dict[str, np.ndarray],
                  train: List[str], val: List[str]) -> Path:
    """``base/VOCdevkit/VOC2012`` as in VOCtrainval_11-May-2012.tar."""
    root = base / 'VOCdevkit' / 'VOC2012'
    for d in ('JPEGImages', 'Annotations', 'SegmentationClass', 'ImageSets/Segmentation'):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i, img in images.items():
        img.save(root / 'JPEGImages' / f'{i}.jpg', quality=90)
    for i, text in xmls.items():
        (root / 'Annotations' / f'{i}.xml').write_text(text)
    for i, m in masks.items():
        write_label(root / 'SegmentationClass' / f'{i}.png', m)
    sets = root / 'ImageSets' / 'Segmentation'
    (sets / 'train.txt').write_text(''.join(f'{i}\n' for i in train))
    (sets / 'val.txt').write_text(''.join(f'{i}\n' for i in val))
    (sets / 'trainval.txt').write_text(''.join(f'{i}\n' for i in train + val))
    return root


def make_sbd_tree(base: Path, mats: Dict[str, np.ndarray], train: List[str], val: List[str]) -> Path:
    """``base/benchmark_RELEASE`` as in SBD's benchmark.tgz: ``dataset/cls/{id}.mat`` hold a ``GTcls``
    struct (``Segmentation``, ``Boundaries``, ``CategoriesPresent``), written with scipy."""
    ds = base / 'benchmark_RELEASE' / 'dataset'
    (ds / 'cls').mkdir(parents=True, exist_ok=True)
    for i, seg in mats.items():
        seg = np.asarray(seg, np.uint8)
        present = np.array([v for v in np.unique(seg) if v], np.uint8)
        boundaries = np.empty((len(present), 1), object)  # SBD: a cell of sparse boundary maps, one per class
        for k, c in enumerate(present):
            boundaries[k, 0] = scipy.sparse.csc_matrix((seg == c).astype(float))
        scipy.io.savemat(ds / 'cls' / f'{i}.mat', {'GTcls': {
            'Segmentation': seg, 'Boundaries': boundaries, 'CategoriesPresent': present}})
    (ds / 'train.txt').write_text(''.join(f'{i}\n' for i in train))
    (ds / 'val.txt').write_text(''.join(f'{i}\n' for i in val))
    return base / 'benchmark_RELEASE'


def tar_folder(folder: Path, archive: Path) -> Path:
    """``folder`` (its name as the top member) into a tar (``.tgz``: gzip), as the official archives."""
    with tarfile.open(archive, 'w:gz' if archive.suffix == '.tgz' else 'w') as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def coco_categories():
    from mmdoei.datasets.categories import COCO_CATEGORIES
    return [dict(supercategory=s, id=i, name=n) for i, n, s in COCO_CATEGORIES]


def make_coco_tree(root: Path, split: str, images: Dict[int, Image.Image], anns: List[dict]) -> None:
    """``root/{split}/COCO_{split}_{id:012d}.jpg`` and ``root/annotations/instances_{split}.json``."""
    (root / split).mkdir(parents=True, exist_ok=True)
    entries = []
    for i, img in images.items():
        name = f'COCO_{split}_{i:012d}.jpg'
        img.save(root / split / name, quality=90)
        entries.append(dict(id=i, file_name=name, height=img.height, width=img.width))
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    doc = dict(info={}, licenses=[], images=entries, categories=coco_categories(),
               annotations=[dict(a, id=k + 1) for k, a in enumerate(anns)])
    (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(doc))


def run_tool(name: str, argv: List[str], capsys) -> tuple:
    """``python tools/dataset_converters/NAME ARGV`` in this process: (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = [str(TOOLS / name)] + [str(a) for a in argv]
    code = 0
    try:
        runpy.run_path(str(TOOLS / name), run_name='__main__')
    except SystemExit as e:
        code = e.code or 0
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == 'P'
        return np.asarray(img)


# --------------------------------------------------------------------------- VOC + SBD
A, B, C, D = '2008_000001', '2008_000002', '2008_000003', '2008_000004'
# VOC's own masks (with a 255 boundary), SBD's masks (no boundary), 3 x 4 pixels
VOC_A = np.array([[0, 0, 255, 15], [0, 255, 15, 15], [0, 0, 255, 15]])
SBD_A = np.array([[0, 0, 15, 15], [0, 15, 15, 15], [0, 0, 15, 15]])
SBD_B = np.array([[1, 1, 0, 0], [1, 1, 0, 20], [0, 0, 0, 20]])
SBD_C = np.array([[7, 7, 7, 7], [0, 0, 0, 0], [0, 0, 0, 0]])
VOC_C = np.array([[7, 7, 7, 255], [255, 255, 255, 0], [0, 0, 0, 0]])
VOC_D = np.array([[0, 0, 0, 0], [0, 12, 12, 0], [0, 0, 0, 0]])


@pytest.fixture
def voc_inputs(tmp_path):
    """VOC: train [A], val [C, D] with masks; SBD: train [A, B], val [C]. train_aug = {A, B}."""
    images = {i: Image.new('RGB', (4, 3), (10 * k, 20, 30)) for k, i in enumerate((A, B, C, D))}
    xmls = {i: voc_xml(i, (3, 4), ['person']) for i in images}
    voc = make_voc_tree(tmp_path / 'voc_src', images, xmls, {A: VOC_A, C: VOC_C, D: VOC_D}, [A], [C, D])
    sbd = make_sbd_tree(tmp_path / 'sbd_src', {A: SBD_A, B: SBD_B, C: SBD_C}, [A, B], [C])
    return dict(voc_dir=voc.parent, sbd_dir=sbd,
                voc_tar=tar_folder(voc.parent, tmp_path / 'VOCtrainval_11-May-2012.tar'),
                sbd_tgz=tar_folder(sbd, tmp_path / 'benchmark.tgz'))


def check_voc_outputs(root: Path) -> None:
    from mmdoei.utils.files import voc_palette
    assert (root / 'ImageSets/Segmentation/train_aug.txt').read_text() == f'{A}\n{B}\n'
    aug = root / 'SegmentationClassAug'
    assert sorted(p.name for p in aug.glob('*')) == [f'{i}.png' for i in (A, B, C, D)]
    np.testing.assert_array_equal(read_png(aug / f'{A}.png'), VOC_A)  # VOC's mask wins over SBD's
    np.testing.assert_array_equal(read_png(aug / f'{B}.png'), SBD_B)
    np.testing.assert_array_equal(read_png(aug / f'{C}.png'), VOC_C)
    np.testing.assert_array_equal(read_png(aug / f'{D}.png'), VOC_D)
    with Image.open(aug / f'{B}.png') as img:
        assert img.getpalette()[:6] == [0, 0, 0, 128, 0, 0] and img.getpalette() == voc_palette()


def test_voc_aug_from_archives_then_resumes(voc_inputs, tmp_path, capsys):
    code, out, err = run_tool('voc_aug.py', [voc_inputs['voc_tar'], voc_inputs['sbd_tgz'], '--out-dir',
                                             tmp_path / 'data'], capsys)
    assert code == 0, err
    root = tmp_path / 'data' / 'VOCdevkit' / 'VOC2012'
    check_voc_outputs(root)
    assert '[voc_aug] train_aug: 2 (official 10582; not the full release, count not checked)' in out
    assert '[voc_aug] 3 SBD masks read, 1 written; 3 VOC masks' in out
    assert f'data_root: {root}' in out
    # a rerun keeps every file (resumable): nothing is rewritten
    stamp = (root / 'SegmentationClassAug' / f'{B}.png').stat().st_mtime_ns
    code, out, err = run_tool('voc_aug.py', [voc_inputs['voc_tar'], voc_inputs['sbd_tgz'], '--out-dir',
                                             tmp_path / 'data'], capsys)
    assert code == 0, err
    assert '[voc_aug] 3 SBD masks read, 0 written; 3 VOC masks' in out
    assert ': 14 files (14 already there)' in out
    assert (root / 'SegmentationClassAug' / f'{B}.png').stat().st_mtime_ns == stamp
    check_voc_outputs(root)


def test_voc_aug_from_folders(voc_inputs, capsys):
    code, out, err = run_tool('voc_aug.py', [voc_inputs['voc_dir'], voc_inputs['sbd_dir']], capsys)
    assert code == 0, err
    check_voc_outputs(voc_inputs['voc_dir'] / 'VOC2012')


def test_voc_aug_checks_the_official_counts(voc_inputs, monkeypatch, capsys):
    """Inputs with the official list sizes are the full release: a train_aug of another size is an error."""
    voc_aug = runpy.run_path(str(TOOLS / 'voc_aug.py'))
    monkeypatch.setitem(voc_aug['OFFICIAL'], 'voc_train', 1)
    monkeypatch.setitem(voc_aug['OFFICIAL'], 'voc_val', 2)
    monkeypatch.setitem(voc_aug['OFFICIAL'], 'sbd_train', 2)
    monkeypatch.setitem(voc_aug['OFFICIAL'], 'sbd_val', 1)
    with pytest.raises(ValueError, match=r'train_aug: 2, but the full releases give 10582; an archive is damaged'):
        voc_aug['convert'](voc_inputs['voc_dir'], voc_inputs['sbd_dir'], Path('unused'))
    monkeypatch.setitem(voc_aug['OFFICIAL'], 'train_aug', 2)
    monkeypatch.setitem(voc_aug['OFFICIAL'], 'aug_masks', 4)
    voc_aug['convert'](voc_inputs['voc_dir'], voc_inputs['sbd_dir'], Path('unused'))
    assert '[voc_aug] train_aug: 2 (official 2: ok)' in capsys.readouterr().out


@pytest.mark.parametrize('kind', ['parent', 'absolute', 'symlink'])
def test_voc_aug_refuses_unsafe_members(tmp_path, kind, capsys):
    archive = tmp_path / 'VOCtrainval_11-May-2012.tar'
    with tarfile.open(archive, 'w') as tar:
        info = tarfile.TarInfo({'parent': 'VOCdevkit/../../evil.txt', 'absolute': '/tmp/evil.txt',
                                'symlink': 'VOCdevkit/VOC2012/link'}[kind])
        if kind == 'symlink':
            info.type, info.linkname = tarfile.SYMTYPE, '/etc/passwd'
            tar.addfile(info)
        else:
            info.size = 4
            tar.addfile(info, io.BytesIO(b'evil'))
    (tmp_path / 'benchmark.tgz').write_bytes(b'')  # never read: the VOC tar is refused first
    code, out, err = run_tool('voc_aug.py', [archive, tmp_path / 'benchmark.tgz', '--out-dir', tmp_path / 'out'],
                              capsys)
    assert code == 1
    reason = {'parent': 'contains "..", which would write outside the output folder; refused',
              'absolute': 'has an absolute path; refused', 'symlink': "is a link (to '/etc/passwd'); links are refused"}
    assert f'[voc_aug] error: {archive}: member ' in err and reason[kind] in err
    assert not (tmp_path / 'evil.txt').exists() and not list((tmp_path / 'out').rglob('*'))


def test_voc_aug_names_a_bad_mat(voc_inputs, capsys):
    bad = voc_inputs['sbd_dir'] / 'dataset' / 'cls' / f'{B}.mat'
    scipy.io.savemat(bad, {'GTinst': {'Segmentation': SBD_B.astype(np.uint8)}})
    code, out, err = run_tool('voc_aug.py', [voc_inputs['voc_dir'], voc_inputs['sbd_dir']], capsys)
    assert code == 1
    assert (f"[voc_aug] error: {voc_inputs['sbd_dir']}: cls/{B}.mat: no GTcls.Segmentation struct field "
            "(SBD's cls/*.mat layout); variables: ['GTinst']") in err


# --------------------------------------------------------------------------- COCO
IMG1, IMG2, IMG3 = 9, 25, 30  # IMG3 has no annotation: dropped
# stuffthingmaps values = category id - 1: 0 person (id 1 -> class 1), 2 car (id 3 -> 3),
# 89 toothbrush (id 90 -> 80), 100/182 stuff -> 0, 255 ignore
STUFF1 = np.array([[0, 0, 100, 255], [2, 2, 182, 89]])
MASK1 = np.array([[1, 1, 0, 255], [3, 3, 0, 80]])
STUFF2 = np.array([[150, 150, 150, 150], [150, 0, 0, 150]])
MASK2 = np.array([[0, 0, 0, 0], [0, 1, 1, 0]])


def square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


@pytest.fixture
def coco_inputs(tmp_path):
    root = tmp_path / 'coco'
    images = {i: Image.new('RGB', (4, 2), (i, 0, 0)) for i in (IMG1, IMG2, IMG3)}
    anns = [dict(image_id=IMG1, category_id=1, iscrowd=0, area=4.0, bbox=[0, 0, 2, 1], segmentation=square(0, 0, 2, 1)),
            dict(image_id=IMG1, category_id=3, iscrowd=0, area=4.0, bbox=[0, 1, 2, 1], segmentation=square(0, 1, 2, 2)),
            dict(image_id=IMG1, category_id=90, iscrowd=0, area=1.0, bbox=[3, 1, 1, 1],
                 segmentation=square(3, 1, 4, 2)),
            dict(image_id=IMG2, category_id=1, iscrowd=0, area=2.0, bbox=[1, 1, 2, 1], segmentation=square(1, 1, 3, 2))]
    make_coco_tree(root, 'train2014', images, anns)
    make_coco_tree(root, 'val2014', {IMG2 + 1: images[IMG2]}, [dict(anns[3], image_id=IMG2 + 1)])
    stuff = tmp_path / 'stuffthingmaps_trainval2017'
    for sub, i, m in (('train2017', IMG1, STUFF1), ('val2017', IMG2, STUFF2), ('train2017', IMG2 + 1, STUFF2)):
        (stuff / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(m.astype(np.uint8), 'L').save(stuff / sub / f'{i:012d}.png')
    with zipfile.ZipFile(tmp_path / 'stuffthingmaps_trainval2017.zip', 'w') as z:
        for p in sorted(stuff.rglob('*.png')):
            z.write(p, p.relative_to(stuff).as_posix())
    return dict(root=root, stuff_dir=stuff, stuff_zip=tmp_path / 'stuffthingmaps_trainval2017.zip')


@pytest.mark.parametrize('source', ['stuff_zip', 'stuff_dir'])
def test_coco_stuff_route(coco_inputs, source, capsys):
    root = coco_inputs['root']
    code, out, err = run_tool('coco_wsss.py', [root, '--stuff', coco_inputs[source]], capsys)
    assert code == 0, err
    s1, s2 = f'COCO_train2014_{IMG1:012d}', f'COCO_train2014_{IMG2:012d}'
    assert (root / 'train_id.txt').read_text() == f'{s1}\n{s2}\n'
    assert (root / 'val_id.txt').read_text() == f'COCO_val2014_{IMG2 + 1:012d}\n'
    assert (root / 'cls_labels_train2014.txt').read_text() == f'{s1} 0 2 79\n{s2} 0\n'
    np.testing.assert_array_equal(read_png(root / 'SegmentationClass/train2014' / f'{s1}.png'), MASK1)
    np.testing.assert_array_equal(read_png(root / 'SegmentationClass/train2014' / f'{s2}.png'), MASK2)
    assert sorted(p.name for p in (root / 'SegmentationClass/train2014').iterdir()) == [
        '.mmdoei-record.json', f'{s1}.png', f'{s2}.png']  # the record: what made the masks
    assert ('[coco_wsss] train2014: 2 of 3 images have objects (official 82081 of 82783; not the full json, count '
            'not checked); 2 masks written, 0 already there') in out
    code, out, err = run_tool('coco_wsss.py', [root, '--stuff', coco_inputs[source]], capsys)
    assert code == 0 and '0 masks written, 2 already there' in out


def test_coco_stuff_refuses_values_of_no_category(coco_inputs, capsys):
    bad = coco_inputs['stuff_dir'] / 'train2017' / f'{IMG1:012d}.png'
    Image.fromarray(np.array([[11, 0, 0, 0], [0, 0, 0, 200]], np.uint8), 'L').save(bad)
    code, out, err = run_tool('coco_wsss.py', [coco_inputs['root'], '--stuff', coco_inputs['stuff_dir']], capsys)
    assert code == 1
    assert (f'[coco_wsss] error: {coco_inputs["stuff_dir"]}: {bad}: values [11, 200] are neither a COCO category '
            'id - 1 (things 0..90, stuff 91..182) nor 255') in err


def test_coco_instances_route_says_how_to_install_pycocotools(coco_inputs, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'pycocotools', None)
    monkeypatch.setitem(sys.modules, 'pycocotools.coco', None)
    code, out, err = run_tool('coco_wsss.py', [coco_inputs['root'], '--instances'], capsys)
    assert code == 1
    assert ('the --instances route needs pycocotools, which is not installed: `pip install pycocotools` '
            "(or use --stuff with COCO-Stuff's stuffthingmaps, which needs nothing)") in err
    assert not (coco_inputs['root'] / 'SegmentationClass').exists()


def test_coco_instances_route_smaller_object_wins(coco_inputs, capsys):
    pytest.importorskip('pycocotools', reason='pip install pycocotools')
    root = coco_inputs['root']
    doc = json.loads((root / 'annotations/instances_train2014.json').read_text())
    # a large car under a small person: the person (smaller, drawn last) wins where they overlap
    doc['annotations'] = [dict(id=1, image_id=IMG1, category_id=1, iscrowd=0, area=1.0, bbox=[1, 0, 1, 1],
                               segmentation=square(1, 0, 2, 1)),
                          dict(id=2, image_id=IMG1, category_id=3, iscrowd=0, area=6.0, bbox=[0, 0, 3, 2],
                               segmentation=square(0, 0, 3, 2))]
    (root / 'annotations/instances_train2014.json').write_text(json.dumps(doc))
    code, out, err = run_tool('coco_wsss.py', [root, '--instances', '--splits', 'train2014'], capsys)
    assert code == 0, err
    got = read_png(root / 'SegmentationClass/train2014' / f'COCO_train2014_{IMG1:012d}.png')
    np.testing.assert_array_equal(got, [[3, 1, 3, 0], [3, 3, 3, 0]])


# --------------------------------------------------------------------------- checker
def tiny_voc_config(tmp_path: Path) -> Path:
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f"_base_ = ['{ROOT}/configs/_base_/datasets/voc12aug_cls.py']\n")
    return cfg


def test_check_dataset_lists_every_problem(voc_inputs, tmp_path, capsys):
    root = voc_inputs['voc_dir'] / 'VOC2012'
    assert run_tool('voc_aug.py', [voc_inputs['voc_dir'], voc_inputs['sbd_dir']], capsys)[0] == 0
    cfg = tiny_voc_config(tmp_path)
    code, out, err = run_tool('check_dataset.py', [cfg, '--cfg-options', f'data_root={root}', '--subset'], capsys)
    assert code == 0, err
    assert f'[check_dataset] {root}/ImageSets/Segmentation/train_aug.txt: 2 images (official 10582)' in out
    assert f'[check_dataset] ok: the data fits {cfg}' in out
    # without --subset the short lists are problems; then break the data three ways
    (root / 'JPEGImages' / f'{B}.jpg').unlink()
    write_label(root / 'SegmentationClassAug' / f'{A}.png', np.full((3, 4), 21))
    write_label(root / 'SegmentationClassAug' / f'{D}.png', np.zeros((5, 5)))
    code, out, err = run_tool('check_dataset.py', [cfg, '--data-root', root], capsys)
    assert code == 1
    sets = root / 'ImageSets' / 'Segmentation'
    expected = [
        f'{sets}/train_aug.txt: 2 images, the official list has 10582 (an incomplete conversion? --subset accepts '
        'other lengths)',
        f'1 of 2 images listed by {sets}/train_aug.txt are missing: {root}/JPEGImages/{B}.jpg',
        f'{root}/SegmentationClassAug/{A}.png: values [21] outside 0..20 and 255 (listed by {sets}/train_aug.txt)',
        f'{sets}/val.txt: 2 images, the official list has 1449',
        f'{root}/SegmentationClassAug/{D}.png: 5 x 5, but its image {root}/JPEGImages/{D}.jpg is 3 x 4',
        f'{sets}/train.txt: 1 images, the official list has 1464']
    for line in expected:
        assert line in err
    assert err.startswith(f'[check_dataset] {err.count(chr(10) + "  - ")} problem(s) with the data of {cfg}:')


def test_check_dataset_missing_folders(tmp_path, capsys):
    cfg = tiny_voc_config(tmp_path)
    (tmp_path / 'VOC2012').mkdir()
    code, out, err = run_tool('check_dataset.py', [cfg, '--data-root', tmp_path / 'VOC2012'], capsys)
    assert code == 1
    for d in ('JPEGImages', 'SegmentationClassAug', 'Annotations'):
        assert f'missing folder {tmp_path}/VOC2012/{d} (' in err
    assert f'missing folder {tmp_path}/VOC2012/JPEGImages (images of train_dataloader)' in err
    assert f'missing folder {tmp_path}/VOC2012/JPEGImages (images of cam_eval (seed scores))' in err


def test_check_dataset_checks_the_images_of_a_list_without_its_mask_folder(voc_inputs, tmp_path, capsys):
    """A missing mask folder is one problem; the images of the lists using it are still checked."""
    root = voc_inputs['voc_dir'] / 'VOC2012'
    assert run_tool('voc_aug.py', [voc_inputs['voc_dir'], voc_inputs['sbd_dir']], capsys)[0] == 0
    for png in (root / 'SegmentationClassAug').iterdir():
        png.unlink()
    (root / 'SegmentationClassAug').rmdir()
    (root / 'JPEGImages' / f'{D}.jpg').unlink()  # a val image
    code, out, err = run_tool('check_dataset.py', [tiny_voc_config(tmp_path), '--data-root', root, '--subset'], capsys)
    assert code == 1
    assert f'missing folder {root}/SegmentationClassAug (masks of val_dataloader)' in err
    assert (f'1 of 2 images listed by {root}/ImageSets/Segmentation/val.txt are missing: '
            f'{root}/JPEGImages/{D}.jpg') in err


# --------------------------------------------------------------------------- docs/datasets.md
def doc_commands(kind: str) -> List[List[str]]:
    """The ``python tools/dataset_converters/...`` lines of docs/datasets.md's bash blocks."""
    text = (ROOT / 'docs' / 'datasets.md').read_text()
    blocks = re.findall(r'```bash\n(.*?)```', text, re.S)
    lines = [ln.strip() for b in blocks for ln in b.replace('\\\n', ' ').splitlines()]
    return [shlex.split(ln)[1:] for ln in lines if ln.startswith(f'python tools/dataset_converters/{kind}')]


def test_docs_commands(voc_inputs, coco_inputs, tmp_path, monkeypatch, capsys):
    """The page's converter commands, run as written from a folder holding the archives by their official
    names (made small here), then its checker commands (with --subset: the lists are small)."""
    work = tmp_path / 'work'
    (work / 'data').mkdir(parents=True)
    for key in ('voc_tar', 'sbd_tgz', 'stuff_zip'):
        src = voc_inputs.get(key) or coco_inputs[key]
        (work / src.name).symlink_to(src)
    coco_inputs['root'].rename(work / 'data' / 'coco')
    monkeypatch.chdir(work)
    ran = []
    for kind in ('voc_aug', 'coco_wsss', 'check_dataset'):
        cmds = doc_commands(kind)
        assert cmds, f'docs/datasets.md has no {kind} command'
        for argv in cmds:
            if '--instances' in argv and not _has_pycocotools():
                continue
            if kind == 'check_dataset':
                argv = argv[:1] + [str(ROOT / argv[1])] + argv[2:] + ['--subset']
            code, out, err = run_tool(Path(argv[0]).name, argv[1:], capsys)
            assert code == 0, (argv, err)
            ran.append(Path(argv[0]).name)
    check_voc_outputs(work / 'data' / 'VOCdevkit' / 'VOC2012')
    np.testing.assert_array_equal(
        read_png(work / 'data/coco/SegmentationClass/train2014' / f'COCO_train2014_{IMG1:012d}.png'), MASK1)
    assert ran.count('check_dataset.py') >= 2


def _has_pycocotools() -> bool:
    try:
        import pycocotools.coco  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- hostile inputs (issue 23)
# Every scenario runs in ONE fresh interpreter, as a user runs the tools (``python tools/...``, nothing
# of the tests imported): SCENARIO_SCRIPT gets a JSON list of steps and prints a JSON of outcomes.
SCENARIO_SCRIPT = r'''
import contextlib, fcntl, io, json, os, resource, runpy, sys, time, traceback
steps = json.load(open(sys.argv[1]))
tools = sys.argv[2]
out, locks = {}, {}
for step in steps:
    name, act = step['name'], step['act']
    if act == 'touch':  # a temporary file a killed run left
        os.makedirs(os.path.dirname(step['path']), exist_ok=True)
        open(step['path'], 'w').close()
        continue
    if act == 'lock':  # another run holding the folder's lock (flock: per open file)
        os.makedirs(os.path.dirname(step['path']), exist_ok=True)
        locks[name] = open(step['path'], 'a')
        fcntl.flock(locks[name], fcntl.LOCK_EX | fcntl.LOCK_NB)
        continue
    old_env = dict(os.environ)
    os.environ.update(step.get('env', {}))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if step.get('mem_mb'):  # cap what this run may allocate beyond what the interpreter already maps
        with open('/proc/self/status') as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith('VmSize:')) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + (step['mem_mb'] << 20), hard))
    start = time.monotonic()
    sys.argv = [os.path.join(tools, step['tool'])] + step['argv']
    o, e, code = io.StringIO(), io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            runpy.run_path(sys.argv[0], run_name='__main__')
    except SystemExit as exc:
        code = exc.code or 0
    except BaseException:
        code, e = 'crash', io.StringIO(e.getvalue() + traceback.format_exc())
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        os.environ.clear()
        os.environ.update(old_env)
    out[name] = dict(code=code, out=o.getvalue(), err=e.getvalue(), secs=round(time.monotonic() - start, 3))
out['modules'] = sorted(m for m in ('torch', 'mmdoei', 'mmseg') if m in sys.modules)
print(json.dumps(out))
'''


def _mat_bytes(seg: np.ndarray, compress: bool = False) -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, {'GTcls': {'Segmentation': seg, 'CategoriesPresent': np.array([15], np.uint8)}},
                     do_compression=compress)
    return buf.getvalue()


def _mat_bomb(height: int, width: int, decompressed: int) -> bytes:
    """A MATLAB 5 file whose compressed ``GTcls.Segmentation`` declares ``height x width`` uint8 and
    whose zlib stream inflates to ``decompressed`` bytes (a few kB, like the attack's 3.3 kB 40000^2 file,
    made without allocating it: full-flushed deflate blocks of zeros repeat byte for byte)."""
    tiny = _mat_bytes(np.zeros((1, 1), np.uint8))  # scipy's header and element layout; dims patched below
    head, body = tiny[:128], tiny[128:]
    body = body.replace(struct.pack('<ii', 1, 1), struct.pack('<ii', height, width), 1)
    comp = zlib.compressobj(9)
    stream = comp.compress(body) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    stream += block * (decompressed >> 20)
    return head + struct.pack('<II', 15, len(stream)) + stream


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width x height`` (the pixel data is a tiny image's: never decoded)."""
    buf = io.BytesIO()
    Image.new('L', (2, 2)).save(buf, 'PNG')
    data = bytearray(buf.getvalue())
    ihdr = struct.pack('>II', width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack('>I', zlib.crc32(b'IHDR' + ihdr))
    return bytes(data)


def _tar_members(archive: Path, members: List[tuple]) -> Path:
    with tarfile.open(archive, 'w:gz' if archive.suffix == '.tgz' else 'w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.fixture(scope='module')
def hostile(tmp_path_factory):
    """Inputs of every hostile scenario, then one interpreter running them all: ``(inputs, outcomes)``."""
    t = tmp_path_factory.mktemp('hostile')
    images = {i: Image.new('RGB', (4, 3), (10 * k, 20, 30)) for k, i in enumerate((A, B, C, D))}
    xmls = {i: voc_xml(i, (3, 4), ['person']) for i in images}
    masks = {A: VOC_A, C: VOC_C, D: VOC_D}
    voc = make_voc_tree(t / 'voc', images, xmls, masks, [A], [C, D]).parent
    sbd = make_sbd_tree(t / 'sbd', {A: SBD_A, B: SBD_B, C: SBD_C}, [A, B], [C])
    voc_tar = tar_folder(voc, t / 'VOCtrainval_11-May-2012.tar')
    sbd_tgz = tar_folder(sbd, t / 'benchmark.tgz')
    sbd2_tgz = t / 'other' / 'benchmark.tgz'  # SBD with another mask of B
    sbd2_tgz.parent.mkdir()
    tar_folder(make_sbd_tree(t / 'sbd2', {A: SBD_A, B: SBD_C, C: SBD_C}, [A, B], [C]), sbd2_tgz)
    # SBD whose B.mat is a decompression bomb / declares more pixels than the budget
    ds = 'benchmark_RELEASE/dataset'
    lists = [(f'{ds}/train.txt', f'{A}\n{B}\n'.encode()), (f'{ds}/val.txt', f'{C}\n'.encode())]
    bomb_tgz = _tar_members(t / 'bomb.tgz', lists + [(f'{ds}/cls/{B}.mat', _mat_bomb(40000, 40000, 80 << 20))])
    big_mat = _mat_bytes(np.zeros((3000, 3000), np.uint8), compress=True)
    big_tgz = _tar_members(t / 'big.tgz', lists + [(f'{ds}/cls/{B}.mat', big_mat)])
    small_tgz = _tar_members(t / 'small.tgz', lists + [(f'{ds}/cls/{B}.mat', _mat_bytes(np.zeros((5, 5), np.uint8)))])
    # VOC tars: cut at the header of JPEGImages/D.jpg (tarfile reads it as complete); a duplicate member; empty
    with tarfile.open(voc_tar) as tar:
        cut = next(m.offset for m in tar.getmembers() if m.name.endswith(f'JPEGImages/{D}.jpg'))
    cut_tar = t / 'cut.tar'
    cut_tar.write_bytes(voc_tar.read_bytes()[:cut])
    jpeg = (voc / 'VOC2012' / 'JPEGImages' / f'{A}.jpg').read_bytes()
    dup_tar = t / 'dup.tar'
    dup_tar.write_bytes(voc_tar.read_bytes())
    with tarfile.open(dup_tar, 'a') as tar:
        info = tarfile.TarInfo(f'VOCdevkit/VOC2012/JPEGImages/{A}.jpg')
        info.size = len(jpeg)
        tar.addfile(info, io.BytesIO(jpeg))
    zero_tar = t / 'zero.tar'
    zero_tar.write_bytes(b'')
    half_tgz = t / 'half.tgz'
    half_tgz.write_bytes(sbd_tgz.read_bytes()[:sbd_tgz.stat().st_size // 2])
    # a VOC folder whose D mask is 7 x 9 (its image is 3 x 4), one whose val id D has no mask
    voc_7x9 = make_voc_tree(t / 'voc_7x9', images, xmls, dict(masks, **{D: np.zeros((7, 9))}), [A], [C, D]).parent
    voc_nomask = make_voc_tree(t / 'voc_nomask', images, xmls, {A: VOC_A, C: VOC_C}, [A], [C, D]).parent

    # COCO: the stuff route's inputs, with one json or zip changed per scenario
    coco = t / 'coco'
    cimages = {i: Image.new('RGB', (4, 2), (i, 0, 0)) for i in (IMG1, IMG2)}
    make_coco_tree(coco, 'train2014', cimages, [
        dict(image_id=IMG1, category_id=1, iscrowd=0, area=4.0, bbox=[0, 0, 2, 1], segmentation=square(0, 0, 2, 1)),
        dict(image_id=IMG2, category_id=1, iscrowd=0, area=2.0, bbox=[1, 1, 2, 1], segmentation=square(1, 1, 3, 2))])
    stuff = t / 'stuff'
    (stuff / 'train2017').mkdir(parents=True)
    for i, m in ((IMG1, STUFF1), (IMG2, STUFF2)):
        Image.fromarray(m.astype(np.uint8), 'L').save(stuff / 'train2017' / f'{i:012d}.png')
    stuff_zip = t / 'stuff.zip'
    with zipfile.ZipFile(stuff_zip, 'w') as z:
        for p in sorted(stuff.rglob('*.png')):
            z.write(p, p.relative_to(stuff).as_posix())
    doc = json.loads((coco / 'annotations' / 'instances_train2014.json').read_text())

    def coco_variant(name: str, change) -> Path:
        root = t / f'coco_{name}'
        (root / 'annotations').mkdir(parents=True)
        (root / 'train2014').symlink_to(coco / 'train2014')
        d = json.loads(json.dumps(doc))
        change(d)
        (root / 'annotations' / 'instances_train2014.json').write_text(json.dumps(d))
        return root

    def img0(**kw):
        return lambda d: d['images'][0].update(kw)

    variants = dict(
        huge=img0(height=200000, width=200000), neg=img0(height=-5), strhw=img0(height='2'),
        dotdot=img0(file_name='../../etc/hostname'), space=img0(file_name='a b.jpg'),
        dupstem=img0(file_name=doc['images'][1]['file_name']),
        cat300=lambda d: d['categories'][-1].update(id=300),
        catdup=lambda d: d['categories'][1].update(id=d['categories'][0]['id']))
    coco_roots = {k: coco_variant(k, f) for k, f in variants.items()}
    bomb_zip = t / 'bomb.zip'
    with zipfile.ZipFile(bomb_zip, 'w') as z:
        z.writestr(f'train2017/{IMG1:012d}.png', _png_header_only(20000, 20000))
    notzip = t / 'notzip.zip'
    notzip.write_bytes(b'PK\x03\x04garbage')
    coco_locked = coco_variant('locked', lambda d: None)

    o = t / 'out'
    root_o = o / 'VOCdevkit' / 'VOC2012'
    vocs = {k: make_voc_tree(t / f'voc_{k}', images, xmls, masks, [A], [C, D]).parent for k in ('bomb', 'big', 'small')}
    steps = [
        dict(name='big', tool='voc_aug.py', argv=[vocs['big'], big_tgz], env={'MMDOEI_MAX_IMAGE_PIXELS': '1000000'}),
        dict(name='bomb', tool='voc_aug.py', argv=[vocs['bomb'], bomb_tgz], mem_mb=600),
        dict(name='sbd_size', tool='voc_aug.py', argv=[vocs['small'], small_tgz]),
        dict(name='voc_size', tool='voc_aug.py', argv=[voc_7x9, sbd]),
        dict(name='voc_nomask', tool='voc_aug.py', argv=[voc_nomask, sbd]),
        dict(name='cut', tool='voc_aug.py', argv=[cut_tar, sbd_tgz, '--out-dir', t / 'out_cut']),
        dict(name='dup', tool='voc_aug.py', argv=[dup_tar, sbd_tgz, '--out-dir', t / 'out_dup']),
        dict(name='zero', tool='voc_aug.py', argv=[zero_tar, sbd_tgz, '--out-dir', t / 'out_zero']),
        dict(name='half_sbd', tool='voc_aug.py', argv=[voc_tar, half_tgz, '--out-dir', t / 'out_half']),
        dict(name='locked', act='lock', path=t / 'out_locked' / 'VOCdevkit' / 'VOC2012' / '.mmdoei.lock'),
        dict(name='voc_locked', tool='voc_aug.py', argv=[voc_tar, sbd_tgz, '--out-dir', t / 'out_locked']),
        dict(name='run1', tool='voc_aug.py', argv=[voc_tar, sbd_tgz, '--out-dir', o]),
        dict(name='tmp', act='touch', path=root_o / 'SegmentationClassAug' / f'.{A}.png.k9x2ab.tmp'),
        dict(name='run_same', tool='voc_aug.py', argv=[voc_tar, sbd_tgz, '--out-dir', o]),
        dict(name='run_other', tool='voc_aug.py', argv=[voc_tar, sbd2_tgz, '--out-dir', o]),
        dict(name='run_overwrite', tool='voc_aug.py', argv=[voc_tar, sbd2_tgz, '--out-dir', o, '--overwrite']),
        dict(name='coco_stuff_zip', tool='coco_wsss.py', argv=[coco, '--stuff', stuff_zip, '--splits', 'train2014']),
        dict(name='coco_stuff_dir', tool='coco_wsss.py', argv=[coco, '--stuff', stuff, '--splits', 'train2014']),
        dict(name='coco_pngbomb', tool='coco_wsss.py', argv=[coco, '--stuff', bomb_zip, '--splits', 'train2014',
                                                             '--overwrite']),
        dict(name='coco_notzip', tool='coco_wsss.py', argv=[coco, '--stuff', notzip, '--splits', 'train2014']),
        dict(name='coco_lock', act='lock', path=coco_locked / '.mmdoei.lock'),
        dict(name='coco_locked', tool='coco_wsss.py', argv=[coco_locked, '--stuff', stuff, '--splits', 'train2014']),
    ] + [dict(name=f'coco_{k}', tool='coco_wsss.py', argv=[r, '--stuff', stuff, '--splits', 'train2014'])
         for k, r in coco_roots.items()]
    for step in steps:
        step.setdefault('act', 'run')
        step['argv'] = [str(a) for a in step.get('argv', [])]
        step['path'] = str(step.get('path', ''))
    (t / 'steps.json').write_text(json.dumps(steps))
    (t / 'run.py').write_text(SCENARIO_SCRIPT)
    proc = subprocess.run([sys.executable, str(t / 'run.py'), str(t / 'steps.json'), str(TOOLS)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    inputs = dict(t=t, voc=voc, vocs=vocs, sbd=sbd, voc_tar=voc_tar, sbd_tgz=sbd_tgz, sbd2_tgz=sbd2_tgz,
                  bomb_tgz=bomb_tgz,
                  big_tgz=big_tgz, small_tgz=small_tgz, cut_tar=cut_tar, dup_tar=dup_tar, zero_tar=zero_tar,
                  half_tgz=half_tgz, voc_7x9=voc_7x9, voc_nomask=voc_nomask, out=o, root_o=root_o, coco=coco,
                  coco_roots=coco_roots, bomb_zip=bomb_zip, notzip=notzip, coco_locked=coco_locked)
    return inputs, json.loads(proc.stdout)


def test_voc_aug_refuses_a_mat_decompression_bomb(hostile):
    """A few-kB .mat whose GTcls.Segmentation declares 40000 x 40000 (1.6 GB): stopped by the decompression
    bound before scipy decodes it (the run is capped at 600 MB above the interpreter), naming the file."""
    inputs, res = hostile
    assert res['bomb']['code'] == 1, res['bomb']['err']
    assert res['bomb']['err'] == (
        f"[voc_aug] error: {inputs['bomb_tgz']}: cls/{B}.mat: decompresses to more than 67108864 bytes (SBD's "
        'masks take about 300 kB); refused as a possible decompression bomb\n')
    assert inputs['bomb_tgz'].stat().st_size < 200_000


def test_voc_aug_checks_mat_dimensions_against_the_pixel_budget(hostile):
    inputs, res = hostile
    assert res['big']['code'] == 1
    assert (f"[voc_aug] error: {inputs['big_tgz']}: cls/{B}.mat: GTcls.Segmentation declares 3000 x 3000 = 9000000 "
            'elements, more than the limit of 1000000 pixels ($MMDOEI_MAX_IMAGE_PIXELS') in res['big']['err']
    assert 'refused before decoding' in res['big']['err']
    assert not (inputs['vocs']['big'] / 'VOC2012' / 'SegmentationClassAug' / f'{B}.png').exists()


def test_voc_aug_checks_mask_sizes_against_the_images(hostile):
    inputs, res = hostile
    assert res['sbd_size']['err'] == (
        f"[voc_aug] error: {inputs['small_tgz']}: cls/{B}.mat: mask of 5 x 5 pixels, but its image "
        f"{inputs['vocs']['small']}/VOC2012/JPEGImages/{B}.jpg is 3 x 4\n")
    root = inputs['voc_7x9'] / 'VOC2012'
    assert res['voc_size']['err'] == (f'[voc_aug] error: {root}/SegmentationClass/{D}.png: mask of 7 x 9 pixels, '
                                      f'but its image {root}/JPEGImages/{D}.jpg is 3 x 4\n')
    root = inputs['voc_nomask'] / 'VOC2012'
    assert res['voc_nomask']['code'] == 1
    assert (f'[voc_aug] error: 1 of 2 masks listed by {root}/ImageSets/Segmentation/val.txt are missing:\n'
            f'  {root}/SegmentationClass/{D}.png') in res['voc_nomask']['err']
    assert not (root / 'SegmentationClassAug').exists()


def test_voc_aug_detects_a_tar_cut_at_a_header(hostile):
    inputs, res = hostile
    assert res['cut']['err'] == (
        f"[voc_aug] error: {inputs['cut_tar']}: 3 files its train/val lists need are not in it (truncated archive?): "
        f'VOCdevkit/VOC2012/JPEGImages/{D}.jpg, VOCdevkit/VOC2012/SegmentationClass/{C}.png, '
        f'VOCdevkit/VOC2012/SegmentationClass/{D}.png\n')
    assert not (inputs['t'] / 'out_cut').exists()  # checked in a first pass: nothing extracted


def test_voc_aug_refuses_duplicate_members_before_extracting(hostile):
    inputs, res = hostile
    assert res['dup']['err'] == (f"[voc_aug] error: {inputs['dup_tar']}: member "
                                 f"'VOCdevkit/VOC2012/JPEGImages/{A}.jpg' is in the archive twice (which copy is "
                                 'meant?); refused\n')
    assert not (inputs['t'] / 'out_dup').exists()


def test_voc_aug_damaged_archives_give_an_error_line(hostile):
    inputs, res = hostile
    assert res['zero']['err'] == f"[voc_aug] error: {inputs['zero_tar']}: an empty file (0 bytes), not a tar archive\n"
    # a truncated SBD tgz is found before the VOC tar is extracted
    assert res['half_sbd']['err'].startswith(f"[voc_aug] error: {inputs['half_tgz']}: damaged or truncated archive (")
    assert not (inputs['t'] / 'out_half').exists()


def test_voc_aug_second_run_is_locked_out_before_extracting(hostile):
    inputs, res = hostile
    root = inputs['t'] / 'out_locked' / 'VOCdevkit' / 'VOC2012'
    assert res['voc_locked']['code'] == 1
    assert res['voc_locked']['err'].startswith(
        f'[voc_aug] error: VOC 2012 folder (voc_aug.py) {root} is in use by another run (')
    assert sorted(p.name for p in root.iterdir()) == ['.mmdoei.lock']


def test_voc_aug_rerun_resumes_or_stops_on_other_inputs(hostile):
    """Same inputs: resumes (and removes a killed run's temporary); another SBD: stops naming what changed;
    --overwrite: starts again with the new masks."""
    inputs, res = hostile
    root = inputs['root_o']
    assert res['run1']['code'] == 0 and f'[voc_aug] {root}: new' in res['run1']['out']
    assert res['run_same']['code'] == 0, res['run_same']['err']
    assert f'[voc_aug] {root}: resume' in res['run_same']['out']
    assert f'[voc_aug] removed 1 temporary files a killed run left under {root}' in res['run_same']['out']
    assert res['run_other']['code'] == 1
    err = res['run_other']['err']
    assert err.startswith(f'[voc_aug] error: VOC 2012 folder {root} holds outputs made with other settings')
    assert f'sbd.path: "{inputs["sbd_tgz"]}" -> "{inputs["sbd2_tgz"]}"' in err
    assert 'rerun tools/dataset_converters/voc_aug.py with --overwrite' in err
    assert res['run_overwrite']['code'] == 0, res['run_overwrite']['err']
    assert f'[voc_aug] {root}: overwritten' in res['run_overwrite']['out']
    assert not list(root.rglob('*.tmp'))
    np.testing.assert_array_equal(read_png(root / 'SegmentationClassAug' / f'{B}.png'), SBD_C)  # sbd2's B


def test_coco_rejects_bad_json_entries(hostile):
    inputs, res = hostile
    roots = inputs['coco_roots']

    def err(k):
        assert res[f'coco_{k}']['code'] == 1
        return res[f'coco_{k}']['err']
    js = {k: f'[coco_wsss] error: {r}/annotations/instances_train2014.json: ' for k, r in roots.items()}
    assert err('huge').startswith(js['huge'] + f'image {IMG1}: 200000 x 200000 = 40000000000 pixels, more than the '
                                  'limit of ')
    assert err('neg') == js['neg'] + f'image {IMG1}: height x width -5 x 4 must be positive\n'
    assert err('strhw') == js['strhw'] + f"image {IMG1}: height is '2', not an integer\n"
    assert err('dotdot').startswith(js['dotdot'] + f"image {IMG1}: file_name '../../etc/hostname' must be a bare file "
                                    'name (no folder, "..", spaces')
    assert err('space').startswith(js['space'] + f"image {IMG1}: file_name 'a b.jpg' must be a bare file name")
    assert err('dupstem') == js['dupstem'] + (
        f"image {IMG2}: file_name 'COCO_train2014_{IMG2:012d}.jpg' has the stem of image {IMG1}'s; the masks and "
        'lists are named by stem, so each image needs its own\n')
    assert err('cat300') == js['cat300'] + ("category ids must be 1..91 (COCO's things; COCO-Stuff's stuff ids "
                                            'follow), got [300]\n')
    assert err('catdup') == js['catdup'] + 'category ids [1] are listed more than once\n'
    for r in roots.values():
        assert not (r / 'SegmentationClass').exists() and not (r / 'train_id.txt').exists()


def test_coco_bad_stuff_zips_and_the_lock_give_an_error_line(hostile):
    inputs, res = hostile
    assert res['coco_pngbomb']['code'] == 1
    assert res['coco_pngbomb']['err'].startswith(
        f"[coco_wsss] error: {inputs['bomb_zip']}: train2017/{IMG1:012d}.png: cannot read as a stuffthingmap (")
    assert res['coco_notzip']['err'] == (f"[coco_wsss] error: {inputs['notzip']}: not a readable zip (BadZipFile: "
                                         'File is not a zip file); expected stuffthingmaps_trainval2017.zip\n')
    assert res['coco_locked']['err'].startswith(
        f"[coco_wsss] error: COCO folder (coco_wsss.py) {inputs['coco_locked']} is in use by another run (")
    assert not (inputs['coco_locked'] / 'SegmentationClass').exists()


def test_coco_rerun_with_other_masks_source_stops(hostile):
    """--stuff from the zip, then from the folder: the second run stops instead of mixing their masks."""
    inputs, res = hostile
    out = inputs['coco'] / 'SegmentationClass' / 'train2014'
    assert res['coco_stuff_zip']['code'] == 0, res['coco_stuff_zip']['err']
    err = res['coco_stuff_dir']['err']
    assert err.startswith(f'[coco_wsss] error: COCO mask folder {out} holds outputs made with other settings')
    assert 'stuff.path: ' in err and 'rerun tools/dataset_converters/coco_wsss.py with --overwrite' in err


def test_converters_do_not_import_torch(hostile):
    """Every run above (the VOC and COCO conversions included) happened without importing torch or mmdoei."""
    inputs, res = hostile
    assert res['run1']['code'] == 0 and res['coco_stuff_zip']['code'] == 0
    assert res['modules'] == []
