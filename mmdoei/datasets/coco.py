"""MS COCO 2014 with image-level labels, for the classification stage of WSSS."""
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Union

from mmengine.fileio import get_file_backend, join_path, load
from mmengine.logging import MMLogger
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS

from mmdoei.utils.files import check_files_exist, check_inside, is_local, missing_files_message, read_split
from mmdoei.utils.io import check_regular_file
from .categories import COCO_CLASSES
from .voc import _WSSSDatasetMixin, resolve


@DATASETS.register_module()
class COCOWSSSDataset(_WSSSDatasetMixin, MultiLabelDataset):
    """MS COCO 2014 as a multi-label classification dataset for WSSS.

    Folder layout (``data_root``)::

        train2014/COCO_train2014_000000000009.jpg   val2014/...
        annotations/instances_train2014.json        instances_val2014.json
        SegmentationClass/train2014/{stem}.png      optional GT masks: 0 background,
        SegmentationClass/val2014/{stem}.png        1..80 contiguous class, 255 ignore

    Labels are the categories of an image's instance annotations (crowd ones
    included: the class is in the picture), mapped from COCO's category ids
    (1..90 with gaps) to 0..79 in the order of the sorted ids; the mask
    values use the same order (+1). As in the WSSS protocol (82,081 train and
    40,137 val images), images without any annotation are dropped unless
    ``split`` names them. ``split`` is an optional list of image stems such as
    MCTformer's ``train_id.txt`` (``COCO_train2014_000000279803``).

    Each sample has ``img_path``, ``img_id`` (the file stem), ``gt_label`` and
    ``seg_map_path`` (``None`` when no mask folder exists). All images are
    checked up front; if the mask folder holds only some of the masks, that is
    an error too.

    Args:
        data_root: The COCO folder.
        ann_file: Instances json, relative to ``data_root``.
        split: Optional id list, relative to ``data_root``.
        data_prefix: ``img_path`` and ``seg_map_path`` folders.
        seg_map_suffix: Mask file suffix.
        **kwargs: Passed to :class:`mmpretrain.datasets.MultiLabelDataset`.
    """

    METAINFO = {'classes': COCO_CLASSES}

    def __init__(self,
                 data_root: str = 'data/coco',
                 ann_file: str = 'annotations/instances_train2014.json',
                 split: Optional[str] = None,
                 data_prefix: Union[str, dict] = dict(
                     img_path='train2014', seg_map_path='SegmentationClass/train2014'),
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        data_prefix = {k: v for k, v in data_prefix.items() if v}
        self.split = resolve(data_root, split)
        self.seg_map_suffix = seg_map_suffix
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the instances json, check every file up front, attach labels."""
        if is_local(self.ann_file):  # a FIFO or /dev/zero would hang or fill memory in json.load
            check_regular_file(self.ann_file, 'annotation file')
        try:
            doc = load(self.ann_file)
            categories, images, annotations = doc['categories'], doc['images'], doc['annotations']
        except FileNotFoundError:
            raise FileNotFoundError(f'annotation file {self.ann_file} does not exist') from None
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f'{self.ann_file}: not a COCO instances json ({type(e).__name__}: {e})') from e
        cat_ids = sorted(c['id'] for c in categories)
        num_classes = len(self.metainfo['classes'])
        if len(cat_ids) != num_classes:
            raise ValueError(f'{self.ann_file}: {len(cat_ids)} categories, but the dataset has '
                             f'{num_classes} classes')
        cat_index = {cid: k for k, cid in enumerate(cat_ids)}
        stem_of = {img['id']: osp.splitext(img['file_name'])[0] for img in images}
        file_of = {img['id']: img['file_name'] for img in images}

        labels: Dict[int, set] = defaultdict(set)
        for ann in annotations:
            if ann['image_id'] not in stem_of or ann['category_id'] not in cat_index:
                raise ValueError(f'{self.ann_file}: annotation {ann.get("id")} refers to an unknown '
                                 f'image {ann["image_id"]} or category {ann["category_id"]}')
            labels[ann['image_id']].add(cat_index[ann['category_id']])

        if self.split is not None:
            by_stem = {s: i for i, s in stem_of.items()}
            wanted = read_split(self.split)
            absent = [s for s in wanted if s not in by_stem]
            if absent:
                raise ValueError(
                    missing_files_message(absent, len(wanted), 'images', f'split file {self.split}') +
                    f'\n(not in annotation file {self.ann_file})')
            image_ids = [by_stem[s] for s in wanted]
        else:
            image_ids = sorted(i for i in stem_of if labels[i])

        img_paths = [join_path(self.data_prefix['img_path'], file_of[i]) for i in image_ids]
        listed_by = self.split or f'annotation file {self.ann_file}'
        check_inside(img_paths, self.data_prefix['img_path'], 'images', listed_by)
        check_files_exist({'images': img_paths}, listed_by)

        seg_paths: List[Optional[str]] = [None] * len(image_ids)
        seg_prefix = self.data_prefix.get('seg_map_path')
        if seg_prefix:
            candidates = [join_path(seg_prefix, stem_of[i] + self.seg_map_suffix) for i in image_ids]
            check_inside(candidates, seg_prefix, 'masks', listed_by)
            backend = get_file_backend(candidates[0])
            present = [backend.exists(p) for p in candidates]
            if all(present):
                seg_paths = candidates
            elif any(present):
                missing = [p for p, ok in zip(candidates, present) if not ok]
                raise FileNotFoundError(
                    missing_files_message(missing, len(candidates), 'masks', self.split
                                          or f'annotation file {self.ann_file}'))
            else:
                MMLogger.get_current_instance().warning(
                    f'no GT masks under {seg_prefix}; samples get seg_map_path=None')

        return [
            dict(img_path=p, img_id=stem_of[i], gt_label=sorted(labels[i]), seg_map_path=s)
            for i, p, s in zip(image_ids, img_paths, seg_paths)
        ]

    def extra_repr(self) -> List[str]:
        return [
            f'Annotation file: \t{self.ann_file}', f'Split file: \t{self.split}',
            f'Prefix of images: \t{self.img_prefix}'
        ]
