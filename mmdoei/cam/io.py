"""The CAM file format: the one place that writes, reads and checks CAM files.

One file per image, ``{cam_dir}/{img_id}{cam_suffix}`` (:func:`cam_path`, the
one place that spells it; the suffix is ``.npz`` unless a config's
``cam_suffix`` says otherwise, and always ends in ``.npz``; uncompressed, never
unpickled): ``keys`` int64 ``(K,)``, the image's 0-based foreground classes,
and ``cams`` float16 ``(K, H, W)`` at the original image size, each map min-max
normalised to ``[0, 1]``.

:func:`save_cam` writes one (atomically); :func:`load_cam` reads and checks
one on its own; :func:`read_cam` also checks it against its image (the
transforms); :func:`read_cam_header` reads the classes and the map size
without the maps; :func:`check_cam_folder` checks a whole folder against a
dataset from the headers only, so a run stops before its long work with one
error listing every bad file.

Every reader checks the declared arrays before it reads any (a CAM file is a
zip: a few hundred kB of deflated zeros can declare gigabytes of maps):
``cams`` is float16 (what :func:`save_cam` writes) or float32, at most as many
maps as the image has labels where they are known (else ``num_classes - 1``),
each the image's size where that is known, else at most
:func:`~mmdoei.utils.files.max_image_pixels` pixels, and all the maps together
at most :func:`max_cam_bytes` bytes. Each map alone being within the pixel
budget is not enough: 20 float64 maps of 7000x7000 declare 7.3 GB.
"""
import glob
import io
import os.path as osp
import sys
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.utils import track_iter_progress
from torch import Tensor

from mmdoei.utils.files import image_size, max_image_pixels, pixel_limit_text, sample_id
from mmdoei.utils.io import load_npz, npz_headers, save_npz_atomic

#: How far outside ``[0, 1]`` a stored value may be (float16 rounding).
RANGE_TOLERANCE = 1e-3
#: How many bad files one error message lists.
MAX_LISTED = 10
#: The dtypes a CAM file's maps may have: float16 (what :func:`save_cam` writes) or float32.
CAM_DTYPES = (np.dtype(np.float16), np.dtype(np.float32))
#: :func:`max_cam_bytes` allows this many float32 maps of the largest image allowed.
CAM_BYTES_MAPS = 4
#: The suffix of CAM files unless a config's ``cam_suffix`` says otherwise.
CAM_SUFFIX = '.npz'
#: The longest ``cam_suffix`` allowed, in bytes (UTF-8): with an image id it must stay within a file name's limit
#: (255 bytes on most file systems), so a long one fails when it is checked, not at the first save.
MAX_CAM_SUFFIX = 64


def check_cam_suffix(suffix: str) -> str:
    """``suffix`` if it can name CAM files, else a ValueError saying why.

    It must end in ``.npz``: a CAM file is an npz archive, and what handles
    CAM folders as a whole (a folder's record, ``--overwrite``, the pipeline)
    finds their files as ``*.npz``. It names a file, so it holds no ``/``,
    and it is at most :data:`MAX_CAM_SUFFIX` bytes long, so that
    ``{img_id}{suffix}`` stays within a file name's length limit (a longer
    one would only fail at the first save, after the model is loaded).
    """
    if not isinstance(suffix, str) or not suffix.endswith('.npz') or '/' in suffix or osp.sep in suffix:
        raise ValueError(f"cam_suffix must end with '.npz' and name a file in the CAM folder (a CAM file is an npz "
                         f'archive; CAM folders are handled as *.npz), got {suffix!r}')
    size = len(suffix.encode('utf-8', 'surrogateescape'))
    if size > MAX_CAM_SUFFIX:
        raise ValueError(f'cam_suffix is {size} bytes long, more than the limit of {MAX_CAM_SUFFIX} (with the image '
                         f'id it names a file, which most file systems limit to 255 bytes), got {suffix[:24]!r}...')
    return suffix


def cam_path(cam_dir: Union[str, Path], img_id: str, suffix: str = CAM_SUFFIX) -> str:
    """The CAM file of one image: ``{cam_dir}/{img_id}{suffix}``, what every writer
    and reader of CAM files opens (``suffix`` checked by :func:`check_cam_suffix`)."""
    return osp.join(str(cam_dir), img_id + check_cam_suffix(suffix))


def cam_files(cam_dir: Union[str, Path], suffix: str = CAM_SUFFIX) -> Dict[str, Path]:
    """The entries of a folder named ``*{suffix}``, by image id (the name without
    ``suffix``), sorted by id; empty when the folder does not exist. Whatever
    they are (a FIFO, a link out of the folder): their readers check that.

    A name alone cannot tell ``x_a.npz`` (image ``x_a``, suffix ``.npz``) from
    image ``x`` with suffix ``_a.npz``, so every ``*{suffix}`` file is listed.
    A CAM folder holds one suffix: the CAM loop's record
    (``.mmdoei-record.json``) includes ``cam_suffix``, and a run with another
    suffix into a recorded folder is refused unless it overwrites.
    """
    check_cam_suffix(suffix)
    folder = Path(cam_dir)
    if not folder.is_dir():
        return {}
    found = {p.name[:-len(suffix)]: p for p in folder.glob('*' + glob.escape(suffix))}
    return {k: found[k] for k in sorted(found) if k}


def other_suffix_hint(cam_dir: Union[str, Path], suffix: str, img_ids: Sequence[str] = ()) -> str:
    """When CAM files are missing: the ``.npz`` files of the folder that start with one
    of ``img_ids`` but are not named ``{img_id}{suffix}`` (written with another
    ``cam_suffix``), as one sentence; else ''."""
    folder = Path(cam_dir)
    if not folder.is_dir():
        return ''
    ids = set(img_ids)
    named = {osp.basename(cam_path(folder, i, suffix)) for i in ids}
    # one listing of the folder; an id is a prefix of the name (a VOC folder: 10k files, a few slices each)
    others = sorted(n for n in (p.name for p in folder.glob('*.npz'))
                    if n not in named and any(n[:k] in ids for k in range(1, len(n) - 3)))
    if not others:
        return ''
    return (f'; CAM files are read as {{img_id}}{suffix} (cam_suffix {suffix!r}) but {cam_dir} holds '
            f'{len(others)} .npz file(s) named otherwise, e.g. {others[:3]}: were they written with another '
            'cam_suffix? The CAM writer (cam_suffix of the stage-1 config, tools/test.py --cam-suffix) and the '
            'readers (the transforms\' cam_suffix) must use the same one')


def max_cam_bytes() -> int:
    """The most bytes the maps of one CAM file may declare: :data:`CAM_BYTES_MAPS`
    float32 maps of :func:`~mmdoei.utils.files.max_image_pixels` pixels (800 MB
    at the default 50 Mpx; the reader holds about twice that for a float16
    file, which it converts to float32). A VOC or COCO image's file is a few
    MB; raise ``$MMDOEI_MAX_IMAGE_PIXELS`` to allow larger ones.
    """
    return max_image_pixels() * 4 * CAM_BYTES_MAPS


def sample_labels(results: Mapping) -> Optional[List[int]]:
    """The sample's image-level labels (``gt_label``) as a sorted list, or None."""
    labels = results.get('gt_label')
    if labels is None:
        return None
    if hasattr(labels, 'detach'):
        labels = labels.detach().cpu().numpy()
    return sorted(int(c) for c in np.asarray(labels).reshape(-1))


def save_cam(path: Union[str, Path], labels: Sequence[int], cams: Union[Tensor, np.ndarray]) -> None:
    """Write one CAM file atomically (layout in the module docstring)."""
    cams = cams.detach().cpu().numpy() if torch.is_tensor(cams) else np.asarray(cams)
    save_npz_atomic(path, keys=np.asarray(list(labels), dtype=np.int64), cams=cams.astype(np.float16))


def _size_problem(cam_hw: Sequence[int], img_hw: Sequence[int]) -> Optional[str]:
    cam_hw, img_hw = tuple(int(s) for s in cam_hw), tuple(int(s) for s in img_hw)
    if cam_hw == img_hw:
        return None
    return (f'CAM size {cam_hw[0]}x{cam_hw[1]} differs from the image size {img_hw[0]}x{img_hw[1]} '
            '(CAMs must be stored at the original image size)')


def _declared_problem(headers: Mapping, num_classes: int, img_shape: Optional[Sequence[int]],
                      labels: Optional[Sequence[int]] = None) -> Optional[str]:
    """What is wrong with a CAM file's declared arrays (``{name: (shape, dtype)}``
    from :func:`~mmdoei.utils.io.npz_headers`); None if nothing. Reads no data,
    so it bounds what loading the file allocates: the dtype, the number of
    maps (the image's label count when ``labels`` is given), their size and
    their total bytes (:func:`max_cam_bytes`)."""
    missing = {'keys', 'cams'} - set(headers)
    if missing:
        return (f'missing array(s) {sorted(missing)}; a CAM file holds "keys" (K,) and "cams" (K, H, W), '
                f'found {sorted(headers)}')
    (kshape, kdtype), (shape, dtype) = headers['keys'], headers['cams']
    if len(kshape) != 1 or not np.issubdtype(kdtype, np.integer):
        return f'"keys" must be a 1-D integer array, got {kdtype} {kshape}'
    if len(shape) != 3 or not np.issubdtype(dtype, np.floating):
        return f'"cams" must be a float (K, H, W) array, got {dtype} {shape}'
    if shape[0] != kshape[0]:
        return f'{kshape[0]} keys but {shape[0]} maps in "cams" {shape}'
    if np.dtype(dtype) not in CAM_DTYPES:
        return (f'"cams" has dtype {dtype}; a CAM file holds float16 (as mmdoei writes) or float32 maps; '
                'refused before reading it')
    if shape[0] > num_classes - 1:
        return (f'"cams" declares {shape[0]} maps {shape}, more than the {num_classes - 1} foreground classes; '
                'refused before reading it')
    if labels is not None and shape[0] > len(labels):
        return (f'"cams" declares {shape[0]} maps {shape}, more than the image\'s {len(labels)} labels '
                f'{sorted(int(c) for c in labels)}; refused before reading it')
    if img_shape is not None:
        problem = _size_problem(shape[1:], img_shape[:2])
        if problem:
            return f'{problem}; "cams" declares shape {shape}, refused before reading it'
    else:
        limit = max_image_pixels()
        if shape[1] * shape[2] > limit:
            return (f'"cams" declares shape {shape}: {shape[1] * shape[2]} pixels a map, more than the limit of '
                    f'{limit} {pixel_limit_text()}; refused before reading it')
    declared, budget = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize, max_cam_bytes()
    if declared > budget:
        return (f'"cams" declares {shape} {dtype}: {declared} bytes of maps, more than the limit of {budget} '
                f'({CAM_BYTES_MAPS} float32 maps of {max_image_pixels()} pixels, {pixel_limit_text()}); '
                'refused before reading it')
    return None


def load_cam(path: str, num_classes: int = 21, img_shape: Optional[Sequence[int]] = None,
             labels: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Load and check one CAM file on its own (format in the module docstring).

    The declared arrays are checked before any is read: float16 or float32,
    at most ``len(labels)`` (when given, else ``num_classes - 1``) maps of
    ``img_shape`` when it is given, else of at most
    :func:`~mmdoei.utils.files.max_image_pixels` pixels, and at most
    :func:`max_cam_bytes` bytes in all.

    Args:
        path: The ``{img_id}.npz`` file.
        num_classes: Classes including background; keys must be in
            ``0..num_classes-2``.
        img_shape: ``(H, W)`` of the image, when known; the maps must have it.
        labels: The image's labels, when known; at most that many maps.

    Returns:
        ``(keys int64 (K,), cams float32 (K, H, W))``.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file, when it is not a regular file, truncated
            or corrupt, lacks ``keys``/``cams``, has wrong dtypes or shapes,
            declares more maps, pixels or bytes than allowed, repeated or
            out-of-range keys, or non-finite values.
        MemoryError: naming the file and its declared size when its maps,
            within the limits, still do not fit in memory.
    """
    headers = npz_headers(path, what='CAM file')
    problem = _declared_problem(headers, num_classes, img_shape, labels)
    if problem:
        raise ValueError(f'{path}: {problem}')
    data = load_npz(path, what='CAM file', names=('keys', 'cams'))
    keys, cams = data['keys'], data['cams']
    if keys.size and (keys.min() < 0 or keys.max() > num_classes - 2):
        raise ValueError(f'{path}: keys {keys.tolist()} out of range 0..{num_classes - 2} '
                         f'(0-based foreground classes of {num_classes - 1})')
    if np.unique(keys).size != keys.size:
        raise ValueError(f'{path}: repeated keys {keys.tolist()}')
    try:
        cams = cams.astype(np.float32, copy=False)
    except MemoryError:
        raise MemoryError(f'{path}: not enough memory to convert its maps {cams.shape} {cams.dtype} to float32 '
                          f'({cams.size * 4} bytes)') from None
    if not np.all(np.isfinite(cams)):
        bad = int((~np.isfinite(cams)).sum())
        raise ValueError(f'{path}: "cams" holds {bad} NaN/inf values')
    return keys.astype(np.int64), cams


def _class_problem(keys: Sequence[int], labels: Sequence[int]) -> Optional[str]:
    keys, labels = sorted(int(k) for k in keys), sorted(int(c) for c in labels)
    if keys == labels:
        return None
    extra = sorted(set(keys) - set(labels))
    missing = sorted(set(labels) - set(keys))
    parts = ([f'classes {extra} not in the image labels'] if extra else []) + (
        [f'no map for labelled classes {missing}'] if missing else [])
    return (f'CAM classes {keys} disagree with the image labels {labels} ({"; ".join(parts)}); '
            'the CAMs were made for other labels or another dataset')


def read_cam(path: str,
             num_classes: int = 21,
             labels: Optional[Sequence[int]] = None,
             img_shape: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Load one CAM file and check it.

    Args:
        path: The ``.npz`` file.
        num_classes: Classes including background (VOC 21, COCO 81).
        labels: The image's 0-based labels; the CAM's classes must equal them.
        img_shape: ``(H, W)`` of the image; the maps must have this size.

    Returns:
        ``(keys int64 (K,), cams float32 (K, H, W))``, sorted by class.

    Raises:
        ValueError: naming the file: missing, not a regular file, truncated
            or corrupt, wrong arrays/dtypes, a size other than ``img_shape``
            (from the header, before the maps are read), values outside
            ``[0, 1]``, or classes that disagree with ``labels``.
    """
    if not osp.exists(path):
        raise ValueError(f'{path}: CAM file does not exist (run the CAM stage for this image, '
                         'or check cam_dir)')
    keys, cams = load_cam(path, num_classes, img_shape[:2] if img_shape is not None else None, labels)
    if cams.size and (cams.min() < -RANGE_TOLERANCE or cams.max() > 1 + RANGE_TOLERANCE):
        raise ValueError(f'{path}: CAM values span [{cams.min():.4g}, {cams.max():.4g}], expected per-class '
                         'min-max normalised maps in [0, 1]')
    problem = _class_problem(keys, labels) if labels is not None else None
    if problem:
        raise ValueError(f'{path}: {problem}')
    order = np.argsort(keys, kind='stable')
    return keys[order], np.clip(cams[order], 0, 1)


def read_cam_header(path: str, num_classes: int = 21, img_shape: Optional[Sequence[int]] = None,
                    labels: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, Tuple[int, ...], np.dtype]:
    """``(keys, shape of cams, dtype of cams)`` without reading the maps.

    The declared arrays are checked as in :func:`load_cam` before the (small)
    ``keys`` array is read.

    Args:
        path: The ``.npz`` file.
        num_classes: Classes including background; at most ``num_classes - 1`` maps.
        img_shape: ``(H, W)`` of the image, when known; the maps must have it.
        labels: The image's labels, when known; at most that many maps.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file when it is not a regular file or a
            readable npz (a truncated file has lost the zip directory at its
            end), or its declared arrays are not a CAM file's.
    """
    headers = npz_headers(path, what='CAM file')
    problem = _declared_problem(headers, num_classes, img_shape, labels)
    if problem:
        raise ValueError(f'{path}: {problem}')
    try:
        with zipfile.ZipFile(path) as z:
            keys = np.load(io.BytesIO(z.read('keys.npy')), allow_pickle=False)
    except Exception as e:  # a member that fails its CRC or decompression
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e}); the file is truncated '
                         'or corrupt, delete it and rerun the CAM stage') from e
    shape, dtype = headers['cams']
    return keys, tuple(shape), dtype


def read_sample_cam(cam_dir: str, img_id: str, suffix: str = CAM_SUFFIX, num_classes: int = 21,
                    labels: Optional[Sequence[int]] = None,
                    img_shape: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`read_cam` of ``cam_path(cam_dir, img_id, suffix)``; a missing file's
    error names the folder and the suffix read, and any ``.npz`` files of the
    folder named otherwise (another ``cam_suffix``)."""
    path = cam_path(cam_dir, img_id, suffix)
    if not osp.exists(path):
        raise ValueError(f'{path}: CAM file does not exist in CAM folder {cam_dir} (run the CAM stage for this '
                         f'image, or check cam_dir){other_suffix_hint(cam_dir, suffix, [img_id])}')
    return read_cam(path, num_classes, labels, img_shape)


def check_cam_file(path: str, labels: Optional[Sequence[int]], img_shape: Optional[Sequence[int]],
                   num_classes: int = 21) -> Optional[str]:
    """What is wrong with one CAM file, from its header; None if nothing."""
    if not osp.exists(path):  # a FIFO or device exists: read_cam_header names what it is
        return 'CAM file does not exist'
    try:
        # Without ``labels``: only the header and the small ``keys`` array are read here, so the
        # class check below can name the classes that disagree (a count alone says less).
        keys, shape, dtype = read_cam_header(path, num_classes, img_shape)
    except ValueError as e:
        return str(e)[len(path) + 2:] if str(e).startswith(path) else str(e)
    if keys.size and (keys.min() < 0 or keys.max() > num_classes - 2):
        return f'keys {keys.tolist()} out of range 0..{num_classes - 2}'
    if labels is not None:
        return _class_problem(keys.tolist(), labels)
    return None


def check_cam_folder(cam_dir: str,
                     samples: Iterable[Mapping],
                     num_classes: int = 21,
                     suffix: str = CAM_SUFFIX,
                     progress: bool = False) -> int:
    """Check every sample's CAM file before long work starts.

    Reads only headers (the ``keys`` array, the shape of ``cams``) and image
    headers, so a VOC-sized folder takes seconds.

    Args:
        cam_dir: Folder of ``{img_id}{suffix}`` files.
        samples: Dataset entries (``dataset.get_data_info(i)``) with
            ``img_id`` or ``img_path``, ``gt_label`` and, for the size check,
            ``img_path`` (or ``ori_shape``).
        num_classes: Classes including background.
        suffix: CAM file suffix.
        progress: Show a progress bar.

    Returns:
        The number of files checked.

    Raises:
        ValueError: one message listing every bad file (up to
            :data:`MAX_LISTED`, then a count) with its problem.
    """
    if not osp.isdir(cam_dir):
        raise ValueError(f'CAM folder {cam_dir} does not exist')
    samples = list(samples)
    problems, missing = [], []
    for info in (track_iter_progress(samples, file=sys.stdout) if progress else samples):
        path = cam_path(cam_dir, sample_id(info), suffix)
        if not osp.exists(path):
            missing.append(sample_id(info))
        shape = info.get('ori_shape')
        if shape is None and info.get('img_path'):
            try:
                shape = image_size(info['img_path'])
            except (OSError, ValueError) as e:
                problems.append(f'{info["img_path"]}: cannot read the image size ({e})')
                continue
        problem = check_cam_file(path, sample_labels(info), shape, num_classes)
        if problem:
            problems.append(f'{path}: {problem}')
    if problems:
        more = f'\n  ... and {len(problems) - MAX_LISTED} more' if len(problems) > MAX_LISTED else ''
        hint = other_suffix_hint(cam_dir, suffix, [sample_id(i) for i in samples]) if missing else ''
        raise ValueError(f'{len(problems)} of {len(samples)} CAM files in {cam_dir} are unusable:\n  '
                         + '\n  '.join(problems[:MAX_LISTED]) + more + (f'\n{hint[2:]}' if hint else ''))
    return len(samples)


def config_cam_suffix(cfg: Mapping) -> str:
    """The suffix of a config's CAM files: its top-level ``cam_suffix``, else ``.npz`` (checked)."""
    return check_cam_suffix(cfg.get('cam_suffix', None) or CAM_SUFFIX)
