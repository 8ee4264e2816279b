r"""MS COCO 2014 for WSSS: id lists, image-level labels and semantic masks (datasets: COCO 2014, see
docs/datasets.md).

    # the protocol the WSSS papers cite: thing labels of COCO-Stuff (Lee et al. 2021)
    python tools/dataset_converters/coco_wsss.py data/coco --stuff stuffthingmaps_trainval2017.zip
    # alternative: from the instance annotations (needs pycocotools)
    python tools/dataset_converters/coco_wsss.py data/coco --instances

``data/coco`` holds ``train2014/``, ``val2014/`` (the images) and
``annotations/instances_{train,val}2014.json``. For each of ``train2014`` and
``val2014`` it writes into ``data/coco``:

* ``train_id.txt`` / ``val_id.txt``: the stems of the images with at least one
  instance annotation (crowd ones included), sorted by image id, as MCTformer's
  lists (82,081 / 40,137 images from the full annotations; the images without
  objects are dropped, as in the protocol and as ``COCOWSSSDataset`` does);
* ``cls_labels_train2014.txt`` / ``cls_labels_val2014.txt``: ``stem c1 c2 ...``
  lines with the 0-based classes (0..79 in the order of the sorted category ids,
  the order ``COCOWSSSDataset`` uses; the format of ``read_cls_labels``);
* ``SegmentationClass/{train2014,val2014}/{stem}.png``: 0 background, 1..80
  the classes (index + 1), 255 ignore.

Masks, ``--stuff``: COCO-Stuff's ``stuffthingmaps_trainval2017`` (the zip or its
extracted folder; 2014's images are 2017's, found by image id in ``train2017/``
or ``val2017/``). Its values are category id - 1: things 0..90 become their
class index + 1, stuff 91..182 background 0, 255 stays 255; any other value is
an error naming the file. ``--instances``: each image's annotations are drawn
with pycocotools in decreasing area order, crowd ones included, so where objects
overlap the smaller one (drawn last) wins; pixels of no annotation are 0.

The jsons are checked before anything is written (category and image ids, sizes
within the pixel budget, bare and distinct file names). Every file is written
atomically; each ``SegmentationClass/{split}`` keeps a record of its inputs (json,
route, stuff maps): a rerun with the same ones keeps the masks there and resumes,
one with others stops naming the difference (``--overwrite`` deletes the split's
masks and starts again). When the jsons are the full ones (82,783 / 40,504 images)
the counts are checked against the protocol's (an error if they differ).
"""
import argparse
import io
import json
import os
import re
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

SPLITS = ('train2014', 'val2014')
#: Images in the full instances jsons, and those with at least one annotation (the WSSS lists).
OFFICIAL_IMAGES = {'train2014': 82783, 'val2014': 40504}
OFFICIAL_KEPT = {'train2014': 82081, 'val2014': 40137}
LIST_NAMES = {'train2014': 'train_id.txt', 'val2014': 'val_id.txt'}
MAX_JSON_BYTES = 2 << 30  # instances_train2014.json is about 330 MB
MAX_PNG_BYTES = 32 << 20
#: The largest thing category id (COCO's are 1..90; COCO-Stuff's stuff ids are 92..182).
MAX_THING_ID = 91
#: Bumped when the outputs for the same inputs change (part of the output record).
CONVERTER_VERSION = 2
PYCOCOTOOLS_HINT = ('the --instances route needs pycocotools, which is not installed: '
                    '`pip install pycocotools` (or use --stuff with COCO-Stuff\'s stuffthingmaps, which needs nothing)')

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _light_utils import utils as _utils  # noqa: E402  (mmdoei's torch-free helpers)


class InvalidEntry(ValueError):
    """An entry of an instances json that is well-formed JSON but refused (the message says why)."""


def _int(value, what: str) -> int:
    """``value`` if it is a JSON integer (not a string, float or bool), else ``InvalidEntry`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEntry(f'{what} is {value!r}, not an integer')
    return value


def load_instances(path: Path) -> dict:
    """An instances json, checked before anything is allocated or written: COCO's 80 categories
    with distinct integer ids 1..91 (below COCO-Stuff's stuff ids), images with distinct integer
    ids, a bare ``file_name`` whose stem is a distinct id token (no folder, no ``..``, no spaces:
    the stems name the masks and fill the id lists), positive integer ``height``/``width`` within
    the pixel budget (:func:`mmdoei.utils.files.max_image_pixels`; they size the masks), and
    annotations with integer image and category ids. ``ValueError`` naming the file otherwise.
    """
    files = _utils('files')
    try:
        doc = json.loads(_utils('io').read_bytes_bounded(path, MAX_JSON_BYTES, 'instances json'))
        cats, images, anns = doc['categories'], doc['images'], doc['annotations']
        cat_ids = sorted(_int(c['id'], 'a category id') for c in cats)
        limit = files.max_image_pixels()
        image_ids, stems = set(), {}
        for i in images:
            iid = _int(i['id'], 'an image id')
            where = f'image {iid}'
            if iid in image_ids:
                raise InvalidEntry(f'{where} is listed twice')
            image_ids.add(iid)
            h, w = _int(i['height'], f'{where}: height'), _int(i['width'], f'{where}: width')
            if h <= 0 or w <= 0:
                raise InvalidEntry(f'{where}: height x width {h} x {w} must be positive')
            if h * w > limit:
                raise InvalidEntry(f'{where}: {h} x {w} = {h * w} pixels, more than the limit of {limit} '
                                   f'{files.pixel_limit_text()}; refused before allocating its mask')
            name = i['file_name']
            if not isinstance(name, str) or name != Path(name).name or '\\' in name or \
                    not re.fullmatch(r'[A-Za-z0-9_-][A-Za-z0-9_.-]*\.[A-Za-z0-9]+', name):
                raise InvalidEntry(f'{where}: file_name {name!r} must be a bare file name (no folder, "..", '
                                   'spaces or other characters than letters, digits, "_", "-" and ".")')
            stem = Path(name).stem
            if stem in stems:
                raise InvalidEntry(f'{where}: file_name {name!r} has the stem of image {stems[stem]}\'s; the masks '
                                   'and lists are named by stem, so each image needs its own')
            stems[stem] = iid
        for a in anns:
            _int(a['image_id'], f'annotation {a.get("id")}: image_id')
            _int(a['category_id'], f'annotation {a.get("id")}: category_id')
    except FileNotFoundError:
        raise FileNotFoundError(f'{path} does not exist; unzip annotations_trainval2014.zip into the COCO '
                                'folder (docs/datasets.md)') from None
    except InvalidEntry as e:
        raise ValueError(f'{path}: {e}') from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f'{path}: not a COCO instances json ({type(e).__name__}: {e})') from e
    if len(set(cat_ids)) != len(cat_ids):
        dup = sorted({c for c in cat_ids if cat_ids.count(c) > 1})
        raise ValueError(f'{path}: category ids {dup} are listed more than once')
    if cat_ids and not 1 <= cat_ids[0] <= cat_ids[-1] <= MAX_THING_ID:
        raise ValueError(f'{path}: category ids must be 1..{MAX_THING_ID} (COCO\'s things; COCO-Stuff\'s stuff '
                         f'ids follow), got {[c for c in cat_ids if not 1 <= c <= MAX_THING_ID][:5]}')
    if len(cat_ids) != 80:
        raise ValueError(f'{path}: {len(cat_ids)} categories, COCO 2014 has 80')
    return doc


def class_lut(cat_ids: List[int]) -> Tuple[np.ndarray, np.ndarray]:
    """COCO-Stuff value -> mask value (256 entries), and which values are valid.

    Value ``v`` of a stuffthingmap is category id ``v + 1``: things become their
    index among the sorted ``cat_ids`` + 1, stuff (ids 92..183) background 0,
    255 stays ignore; the ids no category has are not valid.
    """
    lut = np.zeros(256, np.uint8)
    valid = np.zeros(256, bool)
    for k, cid in enumerate(sorted(cat_ids)):
        lut[cid - 1] = k + 1
        valid[cid - 1] = True
    valid[91:183] = True  # stuff: lut already 0
    lut[255] = 255
    valid[255] = True
    return lut, valid


class StuffMaps:
    """Reads ``{train2017,val2017}/{id:012d}.png`` from the stuffthingmaps zip or folder."""

    def __init__(self, source: Path) -> None:
        self.source = source
        if source.is_file():
            try:
                self.zip: Optional[zipfile.ZipFile] = zipfile.ZipFile(source)
            except (zipfile.BadZipFile, OSError) as e:
                raise ValueError(f'{source}: not a readable zip ({type(e).__name__}: {e}); expected '
                                 'stuffthingmaps_trainval2017.zip') from e
            self.names = {}
            for n in self.zip.namelist():
                if n.endswith('.png') and Path(n).parent.name in ('train2017', 'val2017'):
                    if Path(n).name in self.names:  # which one is meant? (the official zip has each id once)
                        raise ValueError(f'{source}: {self.names[Path(n).name]!r} and {n!r} are maps of the same '
                                         'image; refused')
                    self.names[Path(n).name] = n
        elif source.is_dir():
            self.zip = None
            self.names = {p.name: str(p) for sub in ('train2017', 'val2017') for p in (source / sub).glob('*.png')}
        else:
            raise FileNotFoundError(f'{source} does not exist; expected stuffthingmaps_trainval2017.zip '
                                    'or its extracted folder (with train2017/ and val2017/)')
        if not self.names:
            raise ValueError(f'{source}: no train2017/*.png or val2017/*.png; is this stuffthingmaps_trainval2017?')

    def read(self, image_id: int) -> Tuple[np.ndarray, str]:
        """The map of one image and where it came from (``FileNotFoundError`` naming both)."""
        from PIL import Image
        name = f'{image_id:012d}.png'
        if name not in self.names:
            raise FileNotFoundError(f'{self.source}: no {name} in train2017/ or val2017/')
        where = f'{self.source}: {self.names[name]}'
        if self.zip is not None:
            info = self.zip.getinfo(self.names[name])
            if info.file_size > MAX_PNG_BYTES:
                raise ValueError(f'{where}: {info.file_size} bytes, refused (more than {MAX_PNG_BYTES})')
            try:
                data = self.zip.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                raise ValueError(f'{where}: damaged zip member ({type(e).__name__}: {e})') from e
        else:
            data = _utils('io').read_bytes_bounded(self.names[name], MAX_PNG_BYTES, 'stuffthingmap')
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.mode not in ('L', 'P'):
                    raise ValueError(f'mode {img.mode}, expected a single-channel (L) map')
                problem = _utils('files').pixel_problem(img.width, img.height)
                if problem:  # before decoding: a small PNG can declare gigapixels
                    raise ValueError(problem)
                return np.asarray(img), where
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ValueError(f'{where}: cannot read as a stuffthingmap ({e})') from e


def instance_mask(coco, image: dict, anns: List[dict], cat_index: Dict[int, int]) -> np.ndarray:
    """The class map of one image from its annotations: largest first, so the smaller of two
    overlapping objects wins; crowd annotations are drawn like the others."""
    label = np.zeros((int(image['height']), int(image['width'])), np.uint8)
    for ann in sorted(anns, key=lambda a: -float(a.get('area', 0))):
        label[coco.annToMask(ann) > 0] = cat_index[int(ann['category_id'])] + 1
    return label


def describe_file(path: Path) -> dict:
    """What the output record keeps of an input file or folder: its path, size and mtime."""
    path = path.resolve()
    st = path.stat()
    return dict(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns)


def convert_split(root: Path, split: str, stuff: Optional[StuffMaps], instances: bool,
                  overwrite: bool = False) -> Dict[str, int]:
    """Lists, labels and masks of one split; returns its counts (also printed).

    The caller holds the COCO folder's lock. The split's mask folder is claimed
    with a record of the json, the route and the stuff maps
    (:mod:`mmdoei.utils.record`) before any mask is written: the same inputs
    resume, other ones stop (``overwrite`` deletes its masks and starts again).
    """
    check_files_exist, label_png_bytes = _utils('files').check_files_exist, _utils('files').label_png_bytes
    atomic_write, record_mod = _utils('io').atomic_write, _utils('record')
    ann_path = root / 'annotations' / f'instances_{split}.json'
    doc = load_instances(ann_path)
    cat_ids = sorted(int(c['id']) for c in doc['categories'])
    cat_index = {cid: k for k, cid in enumerate(cat_ids)}
    images = {int(i['id']): i for i in doc['images']}
    anns: Dict[int, List[dict]] = {}
    for a in doc['annotations']:
        if int(a['image_id']) not in images or int(a['category_id']) not in cat_index:
            raise ValueError(f'{ann_path}: annotation {a.get("id")} refers to an unknown image {a["image_id"]} '
                             f'or category {a["category_id"]}')
        anns.setdefault(int(a['image_id']), []).append(a)
    kept = sorted(anns)
    stems = {i: Path(images[i]['file_name']).stem for i in kept}
    full = len(images) == OFFICIAL_IMAGES[split]
    if full and len(kept) != OFFICIAL_KEPT[split]:
        raise ValueError(f'{ann_path}: {len(kept)} images with objects, the protocol has {OFFICIAL_KEPT[split]}; '
                         'is the json damaged? (check its checksum, docs/datasets.md)')
    check_files_exist({'images': [str(root / split / images[i]['file_name']) for i in kept]}, str(ann_path))
    # the mask folder is claimed before anything is written (a refused rerun changes nothing)
    out = root / 'SegmentationClass' / split
    out.mkdir(parents=True, exist_ok=True)
    record_mod.remove_stale_temporaries(out, 'coco_masks')
    record = record_mod.OutputRecord('coco_masks', dict(
        converter='coco_wsss', version=CONVERTER_VERSION, split=split, json=describe_file(ann_path),
        route='instances' if instances else 'stuff', stuff=describe_file(stuff.source) if stuff else None))
    state = record_mod.claim(out, record, overwrite=overwrite)
    print(f'[coco_wsss] {out}: {state} (output record {out / record_mod.RECORD_FILE})')
    with atomic_write(root / LIST_NAMES[split], 'w') as f:
        f.write(''.join(f'{stems[i]}\n' for i in kept))
    with atomic_write(root / f'cls_labels_{split}.txt', 'w') as f:
        for i in kept:
            classes = sorted({cat_index[int(a['category_id'])] for a in anns[i]})
            f.write(' '.join([stems[i]] + [str(c) for c in classes]) + '\n')

    coco = None
    if instances:
        from pycocotools.coco import COCO
        coco = COCO()
        coco.dataset = doc
        coco.createIndex()
    lut, valid = class_lut(cat_ids)
    written = 0
    for n, i in enumerate(kept, 1):
        dst = out / f'{stems[i]}.png'
        if dst.is_file():
            continue
        shape = (int(images[i]['height']), int(images[i]['width']))
        if coco is not None:
            label = instance_mask(coco, images[i], anns[i], cat_index)
        else:
            raw, where = stuff.read(i)
            if raw.shape != shape:
                raise ValueError(f'{where}: {raw.shape[0]} x {raw.shape[1]}, but {ann_path} gives image {i} '
                                 f'as {shape[0]} x {shape[1]}')
            bad = np.unique(raw[~valid[raw]])
            if bad.size:
                raise ValueError(f'{where}: values {bad.tolist()[:5]} are neither a COCO category id - 1 '
                                 '(things 0..90, stuff 91..182) nor 255')
            label = lut[raw]
        with atomic_write(dst) as f:
            f.write(label_png_bytes(label))
        written += 1
        if n % 5000 == 0:
            print(f'[coco_wsss] {split}: {n} / {len(kept)}', flush=True)
    note = (f'official {OFFICIAL_KEPT[split]}: ok' if full else
            f'official {OFFICIAL_KEPT[split]} of {OFFICIAL_IMAGES[split]}; not the full json, count not checked')
    print(f'[coco_wsss] {split}: {len(kept)} of {len(images)} images have objects ({note}); '
          f'{written} masks written, {len(kept) - written} already there')
    return dict(images=len(images), kept=len(kept), written=written)


def convert(root: Path, stuff: Optional[Path], instances: bool, splits=SPLITS,
            overwrite: bool = False) -> Dict[str, Dict[str, int]]:
    """Both splits (or ``splits``); ``stuff`` or ``instances`` picks the masks' source;
    ``overwrite`` deletes masks another run made from other inputs."""
    folder_lock = _utils('locks').folder_lock
    if instances:
        try:
            import pycocotools.coco  # noqa: F401
        except ImportError:
            raise ImportError(PYCOCOTOOLS_HINT) from None
    if not root.is_dir():
        raise FileNotFoundError(f'{root} does not exist; unzip train2014.zip, val2014.zip and '
                                'annotations_trainval2014.zip into it (docs/datasets.md)')
    maps = StuffMaps(stuff) if stuff is not None else None
    with folder_lock(root, 'COCO folder (coco_wsss.py)'):
        # a killed run's temporaries of the lists (the masks' are removed per split)
        for tmp in root.glob('.*.tmp'):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
        return {split: convert_split(root, split, maps, instances, overwrite) for split in splits}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', type=Path, help='the COCO folder (train2014/, val2014/, annotations/)')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--stuff', type=Path, help='stuffthingmaps_trainval2017.zip or its extracted folder')
    src.add_argument('--instances', action='store_true', help='masks from the instance annotations (pycocotools)')
    parser.add_argument('--splits', nargs='+', choices=SPLITS, default=list(SPLITS))
    parser.add_argument('--overwrite', action='store_true',
                        help='a split\'s SegmentationClass folder holds masks of other inputs (its output record '
                        'differs, e.g. --instances after --stuff): delete its masks and start again')
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    try:
        convert(args.root, args.stuff, args.instances, args.splits, overwrite=args.overwrite)
    except (ValueError, OSError, ImportError, RuntimeError, zipfile.BadZipFile) as e:  # RuntimeError: LockedError
        print(f'[coco_wsss] error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
