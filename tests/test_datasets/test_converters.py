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
import sys
import tarfile
import zipfile
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
