"""mmseg datasets for training on pseudo masks (VOC) and for COCO's 81 classes.

The masks of stage 2 are label PNGs named after the images, so mmseg's own
folder convention (``data_prefix.seg_map_path`` + ``seg_map_suffix``) finds
them; these classes add a ``pseudo_mask_dir`` key that points ``seg_map_path``
at that folder, and check that every listed image has its mask before
training starts. The masks' content (size, class ids) is checked as each one
is loaded, by the stage-2 transform ``LoadPseudoMask``.
"""
import os.path as osp
from typing import List, Optional

from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from mmseg.registry import DATASETS

from mmdoei.utils.files import check_files_exist, check_inside, image_size, voc_palette
from .categories import COCO_CLASSES


class PseudoMaskMixin:
    """Adds ``pseudo_mask_dir`` to an mmseg dataset.

    Args:
        pseudo_mask_dir: Folder of the pseudo masks (``{img_id}.png``);
            replaces ``data_prefix['seg_map_path']``. A relative path is
            relative to the working directory, like ``work_dir`` (the masks
            are a product of a run, not part of ``data_root``). ``None``
            leaves the dataset as mmseg has it (e.g. ground truth for
            validation).
        check_masks: Raise before training when masks are missing (one error
            listing them), instead of at the first batch that needs one.
    """

    def __init__(self, *args, pseudo_mask_dir: Optional[str] = None, check_masks: bool = True, **kwargs) -> None:
        if pseudo_mask_dir is not None:
            pseudo_mask_dir = osp.abspath(pseudo_mask_dir)  # mmseg would join a relative one to data_root
            kwargs['data_prefix'] = dict(kwargs.get('data_prefix') or {}, seg_map_path=pseudo_mask_dir)
        self.pseudo_mask_dir = pseudo_mask_dir
        self.check_masks = check_masks
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """mmseg's sample list, with every file checked to lie in its folder
        (mmseg joins split-file lines to the folders as they are, ``..``
        included) and the masks checked for existence."""
        data_list = super().load_data_list()
        listed_by = str(self.ann_file or self.data_prefix.get('img_path'))
        check_inside([d['img_path'] for d in data_list], self.data_prefix['img_path'], 'images', listed_by)
        if self.data_prefix.get('seg_map_path'):
            check_inside([d['seg_map_path'] for d in data_list], self.data_prefix['seg_map_path'], 'masks',
                         listed_by)
        if self.pseudo_mask_dir is not None and self.check_masks:
            check_files_exist({f'pseudo masks (in {self.data_prefix["seg_map_path"]})':
                               [d['seg_map_path'] for d in data_list]}, listed_by=str(self.ann_file))
        return data_list

    def prepare_data(self, idx: int):
        """mmseg's sample, after its image header passed :func:`image_size`
        (a decompression bomb is refused before OpenCV decodes it)."""
        image_size(self.get_data_info(idx)['img_path'])
        return super().prepare_data(idx)


@DATASETS.register_module()
class VOCPseudoMaskDataset(PseudoMaskMixin, PascalVOCDataset):
    """mmseg's ``PascalVOCDataset`` reading its masks from ``pseudo_mask_dir``.

    E.g. ``ann_file='ImageSets/Segmentation/train_aug.txt'`` (10,582 ids) with
    the random-walk masks of stage 2. See :class:`PseudoMaskMixin`.
    """


@DATASETS.register_module()
class COCOObjectDataset(PseudoMaskMixin, BaseSegDataset):
    """MS COCO 2014 as WSSS uses it for segmentation: 81 classes.

    Label PNGs hold 0 for background, ``1..80`` for COCO's 80 object
    categories in the order of their sorted category ids, 255 for ignore:
    the layout of :class:`mmdoei.datasets.COCOWSSSDataset` (``train2014/``,
    ``val2014/``, ``SegmentationClass/{train,val}2014/``, ``{train,val}_id.txt``).
    mmseg's ``COCOStuffDataset`` has the 171 stuff-and-thing classes instead.
    Optional ``pseudo_mask_dir`` as :class:`PseudoMaskMixin`.
    """

    METAINFO = dict(
        classes=('background', ) + COCO_CLASSES,
        # VOC's colour map, extended to 81 entries: the colours stage 2 writes.
        palette=[voc_palette()[3 * i:3 * i + 3] for i in range(len(COCO_CLASSES) + 1)])

    def __init__(self, ann_file: str = 'train_id.txt', img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)


__all__ = ['PseudoMaskMixin', 'VOCPseudoMaskDataset', 'COCOObjectDataset']
