"""AffinityNet's training labels from CAMs, as PSA builds them (``voc12/data.py``).

Per image, two dense-CRF'd score maps are made from the CAMs with a
background score ``(1 - max_k cam_k) ** alpha``:

* low alpha (PSA 4, MCTformer 1): a large background score, so what is still
  foreground is confident foreground;
* high alpha (PSA 32, MCTformer 12): a small background score, so what is
  still background is confident background.

They travel through the crop and flip together with the image (as one
``(H, W, 2(K + 1))`` seg field), are average-pooled by the network stride and
only then turned into labels (:func:`affinity_label_from_scores`):

* a pixel whose low-alpha arg-max is a class keeps that class;
* one whose high-alpha arg-max is background is background (0);
* every other pixel, and every pixel outside the image (no score), is 255.
"""
import hashlib
import json
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmdoei.cam.io import CAM_SUFFIX, cam_path, check_cam_suffix, read_sample_cam, sample_labels
from mmdoei.utils.crf import PSA_CRF, dense_crf
from mmdoei.utils.files import sample_id
from mmdoei.utils.io import atomic_write, load_npz
from mmdoei.utils.registry import register_in

IGNORE_INDEX = 255
#: Pooled scores below this everywhere mean "outside the image" (PSA).
NO_SCORE = 1e-5


def background_score(cams: np.ndarray, alpha: float) -> np.ndarray:
    """PSA's background ``(1 - max_k cam_k) ** alpha``, ``(1, H, W)``; 1 without maps."""
    top = cams.max(axis=0, keepdims=True) if cams.shape[0] else np.zeros((1, ) + cams.shape[1:], cams.dtype)
    return np.power(1 - top, alpha).astype(np.float32)


def alpha_scores(img: Optional[np.ndarray], cams: np.ndarray, alpha: float,
                 crf: Optional[dict] = None) -> np.ndarray:
    """``[background; cams]`` for one alpha, CRF-refined if ``crf`` is given.

    Returns:
        ``(K + 1, H, W)`` float32.
    """
    scores = np.concatenate([background_score(cams, alpha), cams.astype(np.float32)])
    return dense_crf(img, scores, **crf) if crf is not None else scores


def pool_scores(scores: np.ndarray, stride: int) -> np.ndarray:
    """Mean over ``stride x stride`` blocks of ``(H, W, C)``; the last blocks
    are completed with zeros (as skimage's ``block_reduce`` PSA uses)."""
    h, w, c = scores.shape
    hp, wp = -(-h // stride) * stride, -(-w // stride) * stride
    padded = np.zeros((hp, wp, c), np.float32)
    padded[:h, :w] = scores
    return padded.reshape(hp // stride, stride, wp // stride, stride, c).mean(axis=(1, 3))


def affinity_label_from_scores(low: np.ndarray, high: np.ndarray, values: Sequence[int],
                               ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """PSA's label rule on pooled low-alpha and high-alpha scores.

    Args:
        low: ``(h, w, K + 1)`` low-alpha scores, background first.
        high: ``(h, w, K + 1)`` high-alpha scores, same channel order.
        values: Label value of each channel: ``0`` then ``class_id + 1``.

    Returns:
        uint8 ``(h, w)``: ``values[argmax(low)]`` where that is a class,
        0 where ``argmax(high)`` is background, ``ignore_index`` elsewhere and
        where no channel of either map reaches :data:`NO_SCORE`.
    """
    values = np.asarray(values, dtype=np.int64)
    la, ha = low.argmax(axis=-1), high.argmax(axis=-1)
    label = values[la]
    label[la == 0] = ignore_index
    label[ha == 0] = 0
    no_score = np.maximum(low.max(axis=-1), high.max(axis=-1)) < NO_SCORE
    label[no_score] = ignore_index
    return label.astype(np.uint8)


@register_in('TRANSFORMS', 'mmpretrain', 'mmseg')
class LoadAffinityLabelFromCAM(BaseTransform):
    """Low- and high-alpha (CRF'd) scores from a CAM file: AffinityNet's labels
    before crop and pooling (see the module docstring).

    Put it right after ``LoadImageFromFile`` (it needs the image at its
    original size for the CRF), then crop/flip (``mmseg.RandomCrop``,
    :class:`RandomPad`, ``mmseg.RandomFlip`` act on every seg field), then
    :class:`PoolAffinityLabel`.

    Required keys: ``img``, ``ori_shape``, ``img_id`` (or ``img_path``),
    ``gt_label``. Added keys: ``aff_scores`` ``(H, W, 2 (K + 1))`` float32
    (low-alpha channels, then high-alpha), ``aff_score_values`` (label value
    of each of the K + 1 channels), and ``'aff_scores'`` in ``seg_fields``.

    Args:
        cam_dir: Folder of ``{img_id}{cam_suffix}`` CAM files.
        low_alpha: Background power for confident foreground (PSA 4).
        high_alpha: Background power for confident background (PSA 32).
        num_classes: Classes including background (VOC 21, COCO 81).
        crf: Dense CRF settings (:func:`dense_crf` keywords); default PSA's;
            ``None`` skips the CRF.
        cache_dir: If set, the CRF'd scores are stored there per image
            (compressed float16 ``.npz``) and reused while the CAM and the
            settings are unchanged (checked by a fingerprint).
        cam_suffix: CAM file suffix (ends in ``.npz``), the CAM writer's.

    ``reads_cams``: found by the CAM checks by this class attribute (see
    :class:`~mmdoei.datasets.transforms.LoadCAMFromFile`).

    Raises:
        ValueError: naming the file, for a missing or corrupt CAM, classes
            other than the image labels, or a size other than the image's.
    """

    reads_cams = True

    def __init__(self,
                 cam_dir: str,
                 low_alpha: float = 4,
                 high_alpha: float = 32,
                 num_classes: int = 21,
                 crf: Optional[dict] = PSA_CRF,
                 cache_dir: Optional[str] = None,
                 cam_suffix: str = CAM_SUFFIX) -> None:
        if not low_alpha < high_alpha:
            raise ValueError(f'low_alpha ({low_alpha}) must be below high_alpha ({high_alpha})')
        self.cam_dir = cam_dir
        self.low_alpha = low_alpha
        self.high_alpha = high_alpha
        self.num_classes = num_classes
        self.crf = dict(crf) if crf is not None else None
        self.cache_dir = cache_dir
        self.cam_suffix = check_cam_suffix(cam_suffix)

    def _fingerprint(self, keys: np.ndarray, cams: np.ndarray) -> str:
        digest = hashlib.sha1(keys.astype(np.int64).tobytes())
        digest.update(np.ascontiguousarray(cams, np.float32).tobytes())
        settings = json.dumps(dict(low=self.low_alpha, high=self.high_alpha, crf=self.crf), sort_keys=True)
        return f'{digest.hexdigest()} {settings}'

    def _from_cache(self, path: str, fingerprint: str) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        if not osp.isfile(path):
            return None
        try:
            data = load_npz(path)
        except ValueError:  # a damaged cache entry is recomputed, not an error
            return None
        if str(data.get('fingerprint', '')) != fingerprint:
            return None
        return data['low'].astype(np.float32), data['high'].astype(np.float32)

    def _to_cache(self, path: str, fingerprint: str, low: np.ndarray, high: np.ndarray) -> None:
        with atomic_write(path, 'wb') as f:
            np.savez_compressed(f, low=low.astype(np.float16), high=high.astype(np.float16),
                                fingerprint=np.array(fingerprint))

    def transform(self, results: dict) -> dict:
        """Add ``aff_scores`` (see the class docstring)."""
        img_id = sample_id(results)
        path = cam_path(self.cam_dir, img_id, self.cam_suffix)
        labels = sample_labels(results)
        if labels is None:
            raise KeyError(f'{path}: the sample has no gt_label (image labels) to check the CAM against')
        keys, cams = read_sample_cam(self.cam_dir, img_id, self.cam_suffix, self.num_classes, labels,
                                     results['ori_shape'][:2])
        img = results['img']
        if img.shape[:2] != cams.shape[1:]:
            raise ValueError(f'{path}: image is {img.shape[:2]} but its CAM is {cams.shape[1:]}: put '
                             'LoadAffinityLabelFromCAM before any resize or crop')
        cache = osp.join(self.cache_dir, img_id + '.npz') if self.cache_dir else None
        fingerprint = self._fingerprint(keys, cams) if cache else ''
        cached = self._from_cache(cache, fingerprint) if cache else None
        if cached is None:
            low = alpha_scores(img, cams, self.low_alpha, self.crf)
            high = alpha_scores(img, cams, self.high_alpha, self.crf)
            if cache:
                self._to_cache(cache, fingerprint, low, high)
        else:
            low, high = cached
        results['aff_scores'] = np.concatenate([low, high]).transpose(1, 2, 0).copy()
        results['aff_score_values'] = np.concatenate([[0], keys + 1]).astype(np.int64)
        results.setdefault('seg_fields', [])
        if 'aff_scores' not in results['seg_fields']:
            results['seg_fields'].append('aff_scores')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(cam_dir={self.cam_dir!r}, low_alpha={self.low_alpha}, '
                f'high_alpha={self.high_alpha}, crf={self.crf}, cache_dir={self.cache_dir!r})')


@register_in('TRANSFORMS', 'mmpretrain', 'mmseg')
class RandomPad(BaseTransform):
    """Pad ``img`` and every seg field to at least ``size``, the image placed
    at a random offset: with ``mmseg.RandomCrop`` before it, this is PSA's
    crop (a random window of a large image, a small image at a random place
    in a zero container).

    Args:
        size: ``(h, w)`` or one int.
        img_pad_val: Image fill, one value or per channel. PSA pads the
            *normalised* image with 0, i.e. the mean colour: use the
            ImageNet mean in the image's channel order.
        seg_pad_val: Seg-field fill, one value or ``{key: value}`` (others
            get 255). Use 0 for ``aff_scores`` (no score -> ignored).
        random_offset: ``False`` pads right/bottom only.
    """

    def __init__(self,
                 size: Union[int, Tuple[int, int]],
                 img_pad_val: Union[float, Sequence[float]] = 0,
                 seg_pad_val: Union[float, Dict[str, float]] = IGNORE_INDEX,
                 random_offset: bool = True) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.img_pad_val = img_pad_val
        self.seg_pad_val = seg_pad_val
        self.random_offset = random_offset

    @staticmethod
    def _pad(arr: np.ndarray, shape: Tuple[int, int], top: int, left: int, value) -> np.ndarray:
        out = np.empty(shape + arr.shape[2:], arr.dtype)
        out[...] = np.asarray(value, dtype=np.float64).astype(arr.dtype)
        out[top:top + arr.shape[0], left:left + arr.shape[1]] = arr
        return out

    def transform(self, results: dict) -> dict:
        """Pad ``img`` and ``seg_fields``; set ``img_shape`` and ``pad_shape``."""
        h, w = results['img'].shape[:2]
        shape = (max(h, self.size[0]), max(w, self.size[1]))
        top = np.random.randint(shape[0] - h + 1) if self.random_offset else 0
        left = np.random.randint(shape[1] - w + 1) if self.random_offset else 0
        results['img'] = self._pad(results['img'], shape, top, left, self.img_pad_val)
        for key in results.get('seg_fields', []):
            value = (self.seg_pad_val.get(key, IGNORE_INDEX)
                     if isinstance(self.seg_pad_val, dict) else self.seg_pad_val)
            results[key] = self._pad(results[key], shape, top, left, value)
        results['img_shape'] = shape
        results['pad_shape'] = shape
        results['pad_offset'] = (top, left)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, img_pad_val={self.img_pad_val}, '
                f'seg_pad_val={self.seg_pad_val}, random_offset={self.random_offset})')


@register_in('TRANSFORMS', 'mmpretrain', 'mmseg')
class PoolAffinityLabel(BaseTransform):
    """Pool ``aff_scores`` by the network stride and apply PSA's label rule
    (:func:`affinity_label_from_scores`).

    Required keys: ``aff_scores``, ``aff_score_values``. Added key:
    ``gt_aff_label`` uint8 ``(ceil(H / stride), ceil(W / stride))`` (0
    background, ``c + 1`` class ``c``, 255 unknown); pack it with
    ``PackInputs(algorithm_keys=['gt_aff_label'])``. ``aff_scores`` is
    removed (it is large and no longer needed).

    Args:
        stride: The network's output stride (8).
    """

    def __init__(self, stride: int = 8) -> None:
        self.stride = stride

    def transform(self, results: dict) -> dict:
        """Add ``gt_aff_label``."""
        scores = results.pop('aff_scores')
        if 'aff_scores' in results.get('seg_fields', []):
            results['seg_fields'].remove('aff_scores')
        values = results['aff_score_values']
        pooled = pool_scores(scores, self.stride)
        k = len(values)
        if pooled.shape[-1] != 2 * k:
            raise ValueError(f'aff_scores has {pooled.shape[-1]} channels, expected 2 x {k}')
        results['gt_aff_label'] = affinity_label_from_scores(pooled[..., :k], pooled[..., k:], values)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(stride={self.stride})'
