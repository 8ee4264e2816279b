"""Transforms that load stage-1 CAMs and stage-2 pseudo masks into samples."""
import os.path as osp
from typing import List, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmdoei.cam.io import CAM_SUFFIX, cam_path, check_cam_suffix, read_sample_cam, sample_labels
from mmdoei.cam.seeds import cams_to_seed
from mmdoei.utils.files import read_label_png, sample_id
from mmdoei.utils.registry import register_in
from ..voc import read_cls_labels
from .affinity_label import IGNORE_INDEX


def _add_seg_field(results: dict, key: str) -> None:
    results.setdefault('seg_fields', [])
    if key not in results['seg_fields']:
        results['seg_fields'].append(key)


def _image_hw(results: dict, path: str) -> tuple:
    if 'ori_shape' not in results:
        raise KeyError(f'{path}: the image size is unknown; put LoadImageFromFile before this transform')
    return tuple(results['ori_shape'][:2])


@register_in('TRANSFORMS', 'mmpretrain', 'mmseg')
class LoadCAMFromFile(BaseTransform):
    """Load an image's CAMs for the random walk (or any CAM consumer).

    Required keys: ``img_id`` (or ``img_path``), ``ori_shape``, ``gt_label``
    (when present the CAM's classes must equal it). Added keys: ``cams``
    float32 ``(K, H, W)`` and ``cam_keys`` int64 ``(K,)``, sorted by class;
    pack them with ``PackInputs(algorithm_keys=['cams', 'cam_keys'])``.

    Args:
        cam_dir: Folder of ``{img_id}{cam_suffix}`` CAM files.
        num_classes: Classes including background.
        cam_suffix: CAM file suffix (ends in ``.npz``), the CAM writer's
            (:class:`~mmdoei.engine.CAMGenerationLoop`).

    ``reads_cams``: the CAM checks (:class:`~mmdoei.engine.CAMFolderCheckHook`,
    the random walk's) find this transform, and any other whose class says so,
    in a pipeline by this class attribute; it needs ``cam_dir``,
    ``num_classes`` and ``cam_suffix``.

    Raises:
        ValueError: naming the file: missing, corrupt, classes other than the
            image labels, or a size other than the image's.
    """

    reads_cams = True

    def __init__(self, cam_dir: str, num_classes: int = 21, cam_suffix: str = CAM_SUFFIX) -> None:
        self.cam_dir = cam_dir
        self.num_classes = num_classes
        self.cam_suffix = check_cam_suffix(cam_suffix)

    def cam_path(self, results: dict) -> str:
        """The CAM file of a sample."""
        return cam_path(self.cam_dir, sample_id(results), self.cam_suffix)

    def read(self, results: dict):
        """The sample's ``(keys, cams)``, checked (:func:`~mmdoei.cam.io.read_sample_cam`)."""
        return read_sample_cam(self.cam_dir, sample_id(results), self.cam_suffix, self.num_classes,
                               sample_labels(results), _image_hw(results, self.cam_path(results)))

    def transform(self, results: dict) -> dict:
        """Add ``cams`` and ``cam_keys``."""
        keys, cams = self.read(results)
        results['cams'] = cams
        results['cam_keys'] = keys
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(cam_dir={self.cam_dir!r}, num_classes={self.num_classes})'


@register_in('TRANSFORMS', 'mmpretrain', 'mmseg')
class CAMToSeed(LoadCAMFromFile):
    """Turn a CAM file into a seed mask (``gt_seg_map``).

    A pixel gets ``c + 1`` for its top class ``c`` where that class's score
    beats ``bg_threshold``, else 0 (:func:`~mmdoei.cam.seeds.cams_to_seed`,
    the seed metric's rule). Required keys as :class:`LoadCAMFromFile`; added
    ``gt_seg_map`` uint8 ``(H, W)`` (in ``seg_fields``).

    Args:
        cam_dir: Folder of ``{img_id}{cam_suffix}`` CAM files.
        bg_threshold: Background threshold (e.g. the best of the seed sweep).
        num_classes: Classes including background.
        cam_suffix: CAM file suffix (ends in ``.npz``).
    """

    def __init__(self, cam_dir: str, bg_threshold: float, num_classes: int = 21,
                 cam_suffix: str = CAM_SUFFIX) -> None:
        super().__init__(cam_dir, num_classes, cam_suffix)
        self.bg_threshold = bg_threshold

    def transform(self, results: dict) -> dict:
        """Add ``gt_seg_map``."""
        keys, cams = self.read(results)
        results['gt_seg_map'] = cams_to_seed(cams, keys, self.bg_threshold).astype(np.uint8)
        _add_seg_field(results, 'gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(cam_dir={self.cam_dir!r}, bg_threshold={self.bg_threshold})'


@register_in('TRANSFORMS', 'mmpretrain', 'mmseg')
class LoadPseudoMask(BaseTransform):
    """Load a finished pseudo mask (label PNG) as ``gt_seg_map`` for stage 3,
    checked against the image.

    The mask is ``{mask_dir}/{img_id}{suffix}``, or the sample's
    ``seg_map_path`` when ``mask_dir`` is None. It must have the image's size
    and only the values 0, ``ignore_index`` and ``c + 1`` for the image's
    classes ``c``. The image labels come from ``gt_label`` (mmpretrain
    datasets) or ``label_file`` (lines ``img_id c1 c2 ...``); without either,
    only the value range is checked. A labelled class missing from the mask
    is allowed (the random walk may lose a small object).

    Args:
        mask_dir: Folder of pseudo masks (P or L mode PNGs).
        suffix: Mask file suffix.
        num_classes: Classes including background.
        ignore_index: Value of unlabelled pixels.
        label_file: Optional image-level label file.

    Raises:
        ValueError: naming the file: missing, unreadable, wrong size, or a
            class the image is not labelled with.
    """

    def __init__(self,
                 mask_dir: Optional[str] = None,
                 suffix: str = '.png',
                 num_classes: int = 21,
                 ignore_index: int = IGNORE_INDEX,
                 label_file: Optional[str] = None) -> None:
        self.mask_dir = mask_dir
        self.suffix = suffix
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.label_file = label_file
        self._table = None

    def _labels(self, results: dict) -> Optional[List[int]]:
        labels = sample_labels(results)
        if labels is not None or self.label_file is None:
            return labels
        if self._table is None:  # read once per worker
            self._table = read_cls_labels(self.label_file, self.num_classes - 1)
        img_id = sample_id(results)
        if img_id not in self._table:
            raise ValueError(f'{self.label_file}: no labels for image {img_id!r}')
        return self._table[img_id]

    def transform(self, results: dict) -> dict:
        """Add ``gt_seg_map``."""
        if self.mask_dir is not None:
            path = osp.join(self.mask_dir, sample_id(results) + self.suffix)
        elif results.get('seg_map_path'):
            path = results['seg_map_path']
        else:
            raise KeyError('LoadPseudoMask needs mask_dir or a seg_map_path in the sample')
        if not osp.exists(path):  # a FIFO or device exists: read_label_png refuses it, naming what it is
            raise ValueError(f'{path}: pseudo mask does not exist (run the pseudo-label stage for this image)')
        mask = read_label_png(path)
        img_hw = _image_hw(results, path)
        if mask.shape != img_hw:
            raise ValueError(f'{path}: pseudo mask is {mask.shape[0]}x{mask.shape[1]} but the image is '
                             f'{img_hw[0]}x{img_hw[1]}')
        values = set(np.unique(mask).tolist()) - {0, self.ignore_index}
        labels = self._labels(results)
        if labels is not None:
            bad = sorted(v - 1 for v in values if v - 1 not in labels)
            if bad:
                raise ValueError(f'{path}: pseudo mask has class(es) {bad} (values {[b + 1 for b in bad]}) that '
                                 f'the image is not labelled with (labels {labels}); the mask belongs to another '
                                 'image or dataset')
        else:
            bad = sorted(v for v in values if v >= self.num_classes)
            if bad:
                raise ValueError(f'{path}: pseudo mask values {bad} are not classes 0..{self.num_classes - 1} '
                                 f'or {self.ignore_index}')
        results['gt_seg_map'] = mask
        _add_seg_field(results, 'gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mask_dir={self.mask_dir!r}, num_classes={self.num_classes}, '
                f'label_file={self.label_file!r})')
