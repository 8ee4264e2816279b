"""Seeds from CAMs: min-max normalisation, the top foreground class of each pixel
and ``cams_to_seed`` (docs/method.md, "Seeds").

How good seeds are (confusion matrices, mIoU / FP / FN, the background
threshold sweep) is scored in :mod:`mmdoei.evaluation.scores`. The CAM files
seeds are made from are :mod:`mmdoei.cam.io`'s.
"""
from typing import Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[np.ndarray, Tensor]


def minmax_normalise(cams: ArrayLike, eps: float = 0.0, dtype: type = np.float32) -> ArrayLike:
    """Min-max normalise each map over its last two dims: ``(a - min) / (max - min + eps)``.

    The one normalisation of the package, for tensors (CAM generation, with
    ``eps=1e-8`` as the MCTformer authors) and arrays (seeds, ``eps=0``: maps
    already spanning ``[0, 1]`` come back unchanged). A constant map (no
    localisation) becomes all zeros. Arrays are computed in ``dtype``
    (float32: seeds compare scores in float32, as PSA does); tensors keep
    their dtype.
    """
    if torch.is_tensor(cams):
        lo = cams.amin(dim=(-2, -1), keepdim=True)
        rng = cams.amax(dim=(-2, -1), keepdim=True) - lo
        return torch.where(rng > 0, (cams - lo) / (rng + eps), torch.zeros_like(cams))
    cams = np.asarray(cams, dtype=dtype)
    if cams.size == 0:
        return cams
    lo = cams.min(axis=(-2, -1), keepdims=True)
    rng = cams.max(axis=(-2, -1), keepdims=True) - lo
    safe = np.where(rng > 0, rng, 1)
    return np.where(rng > 0, (cams - lo) / (safe + cams.dtype.type(eps)), 0).astype(dtype)


def top_foreground(cams: np.ndarray, class_ids: Sequence[int], normalize: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Per pixel: the top (normalised) score of the labelled classes and its label (class id + 1).

    Maps are ordered by class id first, and ``argmax`` keeps the first of
    equal maxima, so a tie between classes goes to the lower class id, as in
    PSA/MCTformer, whose score tensor is indexed by class.
    """
    cams = np.asarray(cams)
    class_ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    if cams.ndim != 3 or cams.shape[0] != class_ids.size:
        raise ValueError(f'cams must be (K, H, W) with K = len(class_ids) = {class_ids.size}, '
                         f'got shape {cams.shape}')
    if class_ids.size == 0:
        return (np.full(cams.shape[1:], -np.inf, np.float32), np.zeros(cams.shape[1:], np.int64))
    order = np.argsort(class_ids, kind='stable')
    cams = minmax_normalise(cams[order]) if normalize else np.asarray(cams[order], np.float32)
    top = cams.argmax(axis=0)
    return np.take_along_axis(cams, top[None], 0)[0], class_ids[order][top] + 1


def cams_to_seed(cam: np.ndarray,
                 class_ids: Sequence[int],
                 bg_threshold: float,
                 normalize: bool = True) -> np.ndarray:
    """Turn an image's CAMs into a seed label map (docs/method.md, "Seeds").

    The maps of the image's labelled classes are min-max normalised per class;
    a pixel gets ``class_id + 1`` of its top class if that score beats the
    background threshold, else 0 (background).

    Ties follow PSA/MCTformer, which pad a background plane of constant value
    ``bg_threshold`` in front of the class planes and take ``argmax`` (first
    maximum wins): a pixel whose top score *equals* the threshold is
    background, i.e. foreground needs ``score > threshold`` (the spec's "at
    least" differs only on exact ties). Both sides are compared in float32,
    as those scripts do. Ties between classes go to the lower class id.

    Args:
        cam: ``(K, H, W)`` maps, one per labelled class.
        class_ids: The K 0-based foreground class ids of the maps.
        bg_threshold: The background threshold ``beta``.
        normalize: Min-max normalise each map first (default).

    Returns:
        int64 ``(H, W)`` labels, 0 = background.
    """
    score, label = top_foreground(cam, class_ids, normalize)
    return np.where(score > np.float32(bg_threshold), label, 0)
