r"""Does this data root fit this config? (datasets: every VOC / COCO loader of a config, see docs/datasets.md.)

    python tools/dataset_converters/check_dataset.py configs/doei/mct_voc.py [--data-root DIR]
        [--cfg-options data_root=DIR ...] [--sample 20] [--subset]

Reads the config's datasets (train, val, test, CAM loaders and ``cam_eval``) and
lists every problem at once, in seconds, before hours of training find one:
missing folders and list files, list lengths other than the official ones
(``--subset`` accepts any length), listed ids without an image, a mask or an
annotation XML, and, on an evenly spread sample of each list, mask values
outside ``0..C`` and 255 and masks whose size differs from their image's.
Stage 3's pseudo masks (``pseudo_mask_dir``, written by stage 2) are not data
and are not checked. Exits 1 when there is any problem.
"""
import argparse
import os.path as osp
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

#: Official lengths of the lists the configs read.
OFFICIAL_LENGTHS = {'train_aug.txt': 10582, 'train.txt': 1464, 'val.txt': 1449, 'train_id.txt': 82081,
                    'val_id.txt': 40137, 'instances_train2014.json': 82081, 'instances_val2014.json': 40137}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'cam_dataloader')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a config under configs/')
    parser.add_argument('--data-root', help='set every data_root of the config (as tools/train.py --data-root)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config overrides; data_root=DIR sets every data_root, as --data-root')
    parser.add_argument('--sample', type=int, default=20, help='masks per list whose values and size are read')
    parser.add_argument('--subset', action='store_true', help='lists of any length (not the full datasets)')
    return parser.parse_args(argv)


class Checker:
    """Collects the problems of every dataset of a config."""

    def __init__(self, sample: int, subset: bool) -> None:
        self.sample = sample
        self.subset = subset
        self.problems: List[str] = []
        self.notes: List[str] = []
        self._done = set()

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def _folder(self, path: str, what: str) -> bool:
        if not osp.isdir(path):
            self.problem(f'missing folder {path} ({what})')
            return False
        return True

    def _length(self, path: str, n: int) -> None:
        want = OFFICIAL_LENGTHS.get(osp.basename(path))
        self.notes.append(f'{path}: {n} images' + (f' (official {want})' if want else ''))
        if want and n != want and not self.subset:
            self.problem(f'{path}: {n} images, the official list has {want} (an incomplete conversion? '
                         '--subset accepts other lengths)')

    def _missing(self, paths: List[str], what: str, listed_by: str) -> List[bool]:
        present = [osp.isfile(p) for p in paths]
        missing = [p for p, ok in zip(paths, present) if not ok]
        if missing:
            shown = ', '.join(missing[:5]) + (f', ... ({len(missing) - 5} more)' if len(missing) > 5 else '')
            self.problem(f'{len(missing)} of {len(paths)} {what} listed by {listed_by} are missing: {shown}')
        return present

    def _masks(self, pairs: List[Tuple[str, str]], num_classes: int, listed_by: str) -> None:
        """Values and sizes of an evenly spread sample of (image, mask) pairs."""
        import numpy as np

        from mmdoei.utils.files import image_size, read_label_png
        if not pairs or self.sample <= 0:
            return
        picks = sorted({round(k * (len(pairs) - 1) / max(self.sample - 1, 1)) for k in range(self.sample)})
        for k in picks:
            img, mask = pairs[k]
            try:
                label = read_label_png(mask)
                hw = image_size(img)
            except (OSError, ValueError) as e:
                self.problem(str(e))
                continue
            values = np.unique(label)
            bad = values[(values > num_classes) & (values != 255)]
            if bad.size:
                self.problem(f'{mask}: values {bad.tolist()[:5]} outside 0..{num_classes} and 255 '
                             f'(listed by {listed_by})')
            if tuple(label.shape) != tuple(hw):
                self.problem(f'{mask}: {label.shape[0]} x {label.shape[1]}, but its image {img} is '
                             f'{hw[0]} x {hw[1]}')

    def list_dataset(self, root: str, ann_file: str, img_dir: str, seg_dir: Optional[str], xml_dir: Optional[str],
                     num_classes: int, what: str) -> None:
        """A dataset of an id list (VOC's, MCTformer's COCO lists)."""
        from mmdoei.utils.files import read_split
        key = (root, ann_file, img_dir, seg_dir, xml_dir)
        if key in self._done:
            return
        self._done.add(key)
        if not self._folder(root, f'data_root of {what}'):
            return
        # every folder, then every file of the folders that exist: a missing folder is one problem, not
        # a reason to skip checking the others (all problems are reported at once)
        ok = {name: self._folder(d, f'{name} of {what}') for d, name in
              ((img_dir, 'images'), (seg_dir, 'masks'), (xml_dir, 'annotation XMLs')) if d}
        try:
            ids = read_split(ann_file)
        except (OSError, ValueError) as e:
            self.problem(f'{e} (the list of {what})')
            return
        self._length(ann_file, len(ids))
        imgs = [osp.join(img_dir, i + '.jpg') for i in ids]
        if ok['images']:
            self._missing(imgs, 'images', ann_file)
        if xml_dir and ok['annotation XMLs']:
            self._missing([osp.join(xml_dir, i + '.xml') for i in ids], 'annotation XMLs', ann_file)
        if seg_dir and ok['masks']:
            masks = [osp.join(seg_dir, i + '.png') for i in ids]
            present = self._missing(masks, 'masks', ann_file)
            self._masks([(i, m) for i, m, ok in zip(imgs, masks, present) if ok and osp.isfile(i)], num_classes,
                        ann_file)

    def coco_json(self, root: str, ann_file: str, split: Optional[str], img_dir: str, seg_dir: Optional[str],
                  what: str) -> None:
        """A ``COCOWSSSDataset``: the instances json (or the id list), images, masks."""
        import json
        key = (root, ann_file, split, img_dir, seg_dir)
        if key in self._done:
            return
        self._done.add(key)
        if not self._folder(root, f'data_root of {what}') or not self._folder(img_dir, f'images of {what}'):
            return
        try:
            with open(ann_file, 'rb') as f:
                doc = json.load(f)
            files = {int(i['id']): i['file_name'] for i in doc['images']}
            with_objects = sorted({int(a['image_id']) for a in doc['annotations']})
        except FileNotFoundError:
            self.problem(f'missing annotation file {ann_file} ({what})')
            return
        except (KeyError, TypeError, ValueError) as e:
            self.problem(f'{ann_file}: not a COCO instances json ({type(e).__name__}: {e})')
            return
        if split:
            return self.list_dataset(root, split, img_dir, seg_dir, None, 80, what)
        self._length(ann_file, len(with_objects))
        names = [files[i] for i in with_objects if i in files]
        imgs = [osp.join(img_dir, n) for n in names]
        self._missing(imgs, 'images', ann_file)
        if seg_dir and self._folder(seg_dir, f'masks of {what}'):
            masks = [osp.join(seg_dir, osp.splitext(n)[0] + '.png') for n in names]
            present = self._missing(masks, 'masks', ann_file)
            self._masks([(i, m) for i, m, ok in zip(imgs, masks, present) if ok and osp.isfile(i)], 80, ann_file)

    def dataset(self, ds: dict, what: str) -> None:
        """One dataset dict of a config."""
        root = ds.get('data_root') or ''
        prefix = ds.get('data_prefix') or {}
        if isinstance(prefix, str):
            prefix = dict(img_path=prefix)

        def at(p):
            return p if not p or osp.isabs(p) else osp.join(root, p)
        kind = ds.get('type', '')
        if kind == 'VOCWSSSDataset':
            xml = None if ds.get('label_file') or ds.get('label_source') == 'mask' else \
                prefix.get('ann_path', 'Annotations')
            # the dataset's default prefixes include SegmentationClassAug; a given dict replaces them
            seg = prefix.get('seg_map_path') if ds.get('data_prefix') else 'SegmentationClassAug'
            self.list_dataset(root, at(ds.get('split', 'ImageSets/Segmentation/train_aug.txt')),
                              at(prefix.get('img_path', 'JPEGImages')), at(seg), at(xml), 20, what)
        elif kind in ('PascalVOCDataset', 'VOCPseudoMaskDataset', 'COCOObjectDataset'):
            classes = 80 if kind == 'COCOObjectDataset' else 20
            self.list_dataset(root, at(ds.get('ann_file')), at(prefix.get('img_path')),
                              at(prefix.get('seg_map_path')), None, classes, what)
        elif kind == 'COCOWSSSDataset':
            self.coco_json(root, at(ds.get('ann_file', 'annotations/instances_train2014.json')),
                           at(ds.get('split')), at(prefix.get('img_path', 'train2014')),
                           at(prefix.get('seg_map_path')), what)
        elif ds.get('dataset'):  # a wrapper (RepeatDataset, ...)
            self.dataset(ds['dataset'], what)
        else:
            self.notes.append(f'{what}: dataset type {kind!r} is not checked')


def check_config(cfg, sample: int = 20, subset: bool = False) -> Checker:
    """Every dataset of ``cfg`` (an mmengine ``Config``); the checker holds the problems and notes."""
    checker = Checker(sample, subset)
    for name in LOADERS:
        loader = cfg.get(name)
        if loader and loader.get('dataset'):
            checker.dataset(loader['dataset'], name)
    ev = cfg.get('cam_eval')
    if ev:
        root = ev.get('data_root', '')
        images = 'train2014' if 'train2014' in str(ev.get('gt_dir')) else 'JPEGImages'
        checker.list_dataset(root, osp.join(root, ev['split']), osp.join(root, images), osp.join(root, ev['gt_dir']),
                             None, int(ev.get('num_classes', 21)) - 1, 'cam_eval (seed scores)')
    return checker


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)  # first: --help must answer without importing torch
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from mmengine.config import Config, DictAction

    from mmdoei.apis.config_surgery import set_data_root
    try:
        cfg = Config.fromfile(args.config)
    except (OSError, SyntaxError, ValueError) as e:
        print(f'[check_dataset] cannot read config {args.config}: {e}', file=sys.stderr)
        return 1
    opts: Dict = {}
    for item in args.cfg_options:
        key, sep, value = item.partition('=')
        if not sep:
            print(f'[check_dataset] --cfg-options {item!r}: expected KEY=VALUE', file=sys.stderr)
            return 1
        opts[key] = DictAction._parse_iterable(value)
    root = opts.pop('data_root', None) or args.data_root
    if root is not None:
        set_data_root(cfg, str(root))
    if opts:
        cfg.merge_from_dict(opts)
    checker = check_config(cfg, args.sample, args.subset)
    for note in checker.notes:
        print(f'[check_dataset] {note}')
    if checker.problems:
        print(f'[check_dataset] {len(checker.problems)} problem(s) with the data of {args.config}:', file=sys.stderr)
        for p in checker.problems:
            print(f'  - {p}', file=sys.stderr)
        return 1
    print(f'[check_dataset] ok: the data fits {args.config}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
