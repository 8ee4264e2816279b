"""PASCAL VOC 2012 with image-level labels, for the classification stage of WSSS."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union
from xml.etree import ElementTree

import numpy as np
from mmengine.fileio import get, get_file_backend, join_path
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS

from mmdoei.utils import files as file_utils
from mmdoei.utils.files import (check_files_exist, check_inside, image_size, is_local, read_label_png, read_split,
                                read_text_file)
from mmdoei.utils.io import read_bytes_bounded
from .categories import VOC_CLASSES


def resolve(data_root: str, path: Optional[str]) -> Optional[str]:
    """``path`` joined to ``data_root`` unless it is absolute or a URI."""
    if not path or osp.isabs(path) or '://' in path or not data_root:
        return path
    return join_path(data_root, path)


def read_cls_labels(path: str, num_classes: int) -> Dict[str, List[int]]:
    """Read an image-level label file: one line ``img_id c1 c2 ...`` per image.

    ``c`` are 0-based foreground class indices (VOC: 0 = aeroplane ..
    19 = tvmonitor). Every error names the file and the line.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: when the file is not a regular file, larger than
            :data:`~mmdoei.utils.files.MAX_LIST_BYTES` or not UTF-8; on a row
            with no class or more classes than exist, a class that is not an
            integer in ``0..num_classes-1``, a repeated class, or an image
            listed twice.
    """
    labels: Dict[str, List[int]] = {}
    for lineno, line in enumerate(read_text_file(path, 'label file').splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        where = f'{path}:{lineno}'
        img_id, fields = tokens[0], tokens[1:]
        if img_id in labels:
            raise ValueError(f'{where}: image {img_id!r} is listed twice')
        if not 1 <= len(fields) <= num_classes:
            raise ValueError(f'{where}: image {img_id!r} has {len(fields)} classes; expected 1 to '
                             f'{num_classes} class indices after the id ("{img_id} c1 c2 ...")')
        try:
            classes = [int(f) for f in fields]
        except ValueError:
            raise ValueError(f'{where}: class indices must be integers, got {fields}') from None
        bad = [c for c in classes if not 0 <= c < num_classes]
        if bad:
            raise ValueError(f'{where}: class index {bad[0]} out of range 0..{num_classes - 1} '
                             '(0-based foreground classes, background is not listed)')
        if len(set(classes)) != len(classes):
            raise ValueError(f'{where}: image {img_id!r} lists a class twice: {fields}')
        labels[img_id] = sorted(classes)
    return labels


def labels_from_xml(path: str, classes: Sequence[str]) -> List[int]:
    """Foreground classes of a VOC annotation XML (``Annotations/{id}.xml``): every
    ``<name>`` that is a class name, as PSA's ``make_cls_labels.py`` reads them
    (part names such as ``head`` are not classes and are skipped).

    Raises:
        FileNotFoundError / ValueError: naming the file when it is missing, not
            a regular file (a FIFO, ``/dev/zero``), larger than
            :data:`~mmdoei.utils.files.MAX_LIST_BYTES` or not well-formed XML.
    """
    try:
        data = read_bytes_bounded(path, file_utils.MAX_LIST_BYTES, 'annotation file') if is_local(path) else get(path)
        root = ElementTree.fromstring(data)
    except FileNotFoundError:
        raise FileNotFoundError(f'annotation file {path} does not exist') from None
    except ElementTree.ParseError as e:
        raise ValueError(f'{path}: not a well-formed VOC annotation XML ({e})') from None
    index = {c: k for k, c in enumerate(classes)}
    return sorted({index[el.text.strip()] for el in root.iter('name') if el.text and el.text.strip() in index})


def labels_from_mask(path: str, num_classes: int, ignore_index: int = 255) -> List[int]:
    """Foreground classes present in a label PNG: values other than 0 and
    ``ignore_index``, minus 1. Raises ``ValueError`` naming the file on a value
    above ``num_classes``."""
    values = np.unique(read_label_png(path))
    values = values[(values != 0) & (values != ignore_index)]
    if values.size and values.max() > num_classes:
        raise ValueError(f'{path}: label value {int(values.max())} is not a class of this dataset '
                         f'(expected 0, 1..{num_classes} or {ignore_index})')
    return [int(v) - 1 for v in values]


class _WSSSDatasetMixin:
    """Names the image when loading a sample fails, checks image sizes up
    front and each image's header (:func:`image_size`: decompression bombs)
    before it is decoded.

    mmcv's ``LoadImageFromFile`` already says "failed to load image: <path>"
    for an undecodable file, but other pipeline errors do not name the sample.

    Args:
        min_size: If set, every image's shorter side must be at least this
            (one ViT patch, say); checked from the image headers when the
            dataset is built, so a bad file stops the run before training.
    """

    def __init__(self, *args, min_size: Optional[int] = None, **kwargs) -> None:
        self.min_size = min_size
        super().__init__(*args, **kwargs)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        super().full_init()
        if self.min_size:
            paths = [self.get_data_info(i)['img_path'] for i in range(len(self))]
            small = [(p, image_size(p)) for p in paths]
            small = [(p, hw) for p, hw in small if min(hw) < self.min_size]
            if small:
                shown = '\n'.join(f'  {p}: {h} x {w}' for p, (h, w) in small[:5])
                more = f'\n  ... and {len(small) - 5} more' if len(small) > 5 else ''
                raise ValueError(f'{len(small)} image(s) smaller than {self.min_size} pixels (one '
                                 f'patch) on a side:\n{shown}{more}')

    def prepare_data(self, idx: int):
        try:
            # The header first: refuses a decompression bomb before OpenCV decodes it.
            image_size(self.get_data_info(idx)['img_path'])
            return super().prepare_data(idx)
        except Exception as e:
            info = self.get_data_info(idx)
            raise RuntimeError(f'cannot load sample {idx} (image {info.get("img_path")}): '
                               f'{type(e).__name__}: {e}') from e


@DATASETS.register_module()
class VOCWSSSDataset(_WSSSDatasetMixin, MultiLabelDataset):
    """PASCAL VOC 2012 (with the SBD-augmented train set) as a multi-label
    classification dataset for weakly supervised segmentation.

    Folder layout (``data_root`` is ``VOCdevkit/VOC2012``)::

        JPEGImages/{id}.jpg
        Annotations/{id}.xml                object annotations (the image labels)
        SegmentationClassAug/{id}.png       label masks (P or L mode PNGs)
        ImageSets/Segmentation/train_aug.txt, train.txt, val.txt, ...

    ``train_aug.txt`` is the usual name of the 10,582-image list (PSA,
    MCTformer); mmseg's ``voc_aug.py`` converter writes the same list as
    ``aug.txt``. Lines may be plain ids or PSA's ``/JPEGImages/x.jpg
    /SegmentationClassAug/x.png`` pairs.

    Image-level labels come from ``label_file`` when given (text lines
    ``img_id c1 c2 ...`` with 0-based classes, see :func:`read_cls_labels`),
    else from ``label_source``: ``'xml'`` (default) reads the object names of
    ``Annotations/{id}.xml``, which is how PSA's ``make_cls_labels.py`` built the
    ``cls_labels.npy`` that PSA, MCTformer and TransCAM train on; ``'mask'``
    takes the classes present in the masks (255 and background excluded),
    which misses any object the mask does not show. PSA/MCTformer's
    ``cls_labels.npy`` itself is not read: it is a pickled dict, and loading it
    would run whatever code the file holds.

    Each sample has ``img_path``, ``img_id``, ``gt_label`` (list of class
    indices) and ``seg_map_path`` (``None`` where the mask does not exist).
    All files are checked at initialisation; one error lists what is missing.
    To carry ``img_id``/``seg_map_path`` through ``PackInputs``, add them to
    its ``meta_keys``.

    Args:
        data_root: The ``VOC2012`` folder.
        split: Split file, relative to ``data_root``.
        label_file: Optional image-level label file, relative to ``data_root``.
        label_source: Without ``label_file``: ``'xml'`` or ``'mask'``.
        data_prefix: ``img_path``, ``seg_map_path`` and ``ann_path`` (XML)
            folders; an empty ``seg_map_path`` means no masks.
        img_suffix: Image file suffix.
        seg_map_suffix: Mask file suffix.
        ignore_index: Mask value that is not a class.
        **kwargs: Passed to :class:`mmpretrain.datasets.MultiLabelDataset`
            (``pipeline``, ``test_mode``, ``indices``, ...).

    Example:
        >>> train = dict(type='VOCWSSSDataset', data_root='data/VOCdevkit/VOC2012',
        ...              split='ImageSets/Segmentation/train_aug.txt',
        ...              pipeline=[dict(type='LoadImageFromFile'),
        ...                        dict(type='RandomResizedCrop', scale=224),
        ...                        dict(type='PackInputs')])
    """

    METAINFO = {'classes': VOC_CLASSES}

    def __init__(self,
                 data_root: str = 'data/VOCdevkit/VOC2012',
                 split: str = 'ImageSets/Segmentation/train_aug.txt',
                 label_file: Optional[str] = None,
                 label_source: str = 'xml',
                 data_prefix: Union[str,
                                    dict] = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug',
                                                 ann_path='Annotations'),
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 ignore_index: int = 255,
                 **kwargs) -> None:
        if label_file is not None and label_file.endswith('.npy'):
            raise ValueError(f'label_file {label_file}: .npy label files (PSA/MCTformer cls_labels.npy) '
                             'are pickled dicts and are not loaded, since unpickling runs code from '
                             'the file. Leave label_file=None to read the labels from Annotations/*.xml '
                             '(as PSA made that file), or give a text file of "img_id c1 c2 ..." lines.')
        if label_source not in ('xml', 'mask'):
            raise ValueError(f"label_source must be 'xml' (Annotations/*.xml, as PSA) or 'mask', "
                             f'got {label_source!r}')
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        data_prefix = {'ann_path': 'Annotations', **{k: v for k, v in data_prefix.items() if v}}
        if label_file is None and label_source == 'mask' and 'seg_map_path' not in data_prefix:
            raise ValueError("label_source='mask' needs a seg_map_path in data_prefix (or give a label_file)")
        self.label_file = resolve(data_root, label_file)
        self.label_source = label_source
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.ignore_index = ignore_index
        super().__init__(ann_file=split, data_root=data_root, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the split, check every file up front, attach labels."""
        img_ids = read_split(self.ann_file)
        num_classes = len(self.metainfo['classes'])
        img_paths = [join_path(self.data_prefix['img_path'], i + self.img_suffix) for i in img_ids]
        seg_prefix = self.data_prefix.get('seg_map_path')
        seg_paths = [join_path(seg_prefix, i + self.seg_map_suffix)
                     for i in img_ids] if seg_prefix else [None] * len(img_ids)

        xml_paths = [join_path(self.data_prefix['ann_path'], i + '.xml') for i in img_ids]
        listed_by = f'split file {self.ann_file}'
        check_inside(img_paths, self.data_prefix['img_path'], 'images', listed_by)
        if seg_prefix:
            check_inside(seg_paths, seg_prefix, 'masks', listed_by)
        check_inside(xml_paths, self.data_prefix['ann_path'], 'annotation XMLs', listed_by)
        to_check = {'images': img_paths}
        if self.label_file is None and self.label_source == 'xml':
            to_check["annotation XMLs (the image labels; label_source='mask' reads the masks instead)"] = \
                xml_paths
        elif self.label_file is None:
            to_check["masks (the image labels, label_source='mask')"] = seg_paths
        check_files_exist(to_check, f'split file {self.ann_file}')

        if self.label_file is not None:
            table = read_cls_labels(self.label_file, num_classes)
            absent = [i for i in img_ids if i not in table]
            if absent:
                shown = ', '.join(absent[:5]) + (f', ... ({len(absent) - 5} more)' if len(absent) > 5 else '')
                raise ValueError(f'{len(absent)} of {len(img_ids)} images listed by split file '
                                 f'{self.ann_file} have no row in label file {self.label_file}: {shown}')
            labels = [table[i] for i in img_ids]
        elif self.label_source == 'xml':
            labels = [labels_from_xml(p, self.metainfo['classes']) for p in xml_paths]
        else:
            labels = [labels_from_mask(p, num_classes, self.ignore_index) for p in seg_paths]
        if seg_prefix and (self.label_file is not None or self.label_source == 'xml'):
            backend = get_file_backend(seg_paths[0])
            seg_paths = [p if backend.exists(p) else None for p in seg_paths]

        return [
            dict(img_path=p, img_id=i, gt_label=lab, seg_map_path=s)
            for i, p, lab, s in zip(img_ids, img_paths, labels, seg_paths)
        ]

    @property
    def _label_prefix_key(self) -> str:
        return 'ann_path' if self.label_source == 'xml' else 'seg_map_path'

    def extra_repr(self) -> List[str]:
        return [
            f'Split file: \t{self.ann_file}',
            f'Labels from: \t{self.label_file or self.data_prefix[self._label_prefix_key]}',
            f'Prefix of images: \t{self.img_prefix}'
        ]
