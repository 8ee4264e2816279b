"""File helpers shared by every stage: split files, label PNGs, image ids.

Only numpy, PIL and mmengine.fileio are used, so these work without mmcv.
"""
import io
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import get, get_file_backend
from PIL import Image

# How many missing files an error message lists before it says "... and N more".
MAX_LISTED = 5


def read_split(path: str) -> List[str]:
    """Read image ids from a split file.

    Accepts the plain form (one id per line, as ``ImageSets/Segmentation/*.txt``
    and MCTformer's ``*_id.txt``) and the PSA form
    (``/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png``):
    the id is the file stem of the first token. Blank lines are skipped.

    Raises:
        FileNotFoundError: naming the split file when it does not exist.
        ValueError: when it lists no ids, or an id twice.
    """
    backend = get_file_backend(path)
    if not backend.exists(path):
        raise FileNotFoundError(f'split file {path} does not exist')
    ids, seen = [], set()
    for lineno, line in enumerate(backend.get_text(path).splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        img_id = osp.splitext(osp.basename(tokens[0]))[0]
        if img_id in seen:
            raise ValueError(f'{path}:{lineno}: image id {img_id!r} is listed twice')
        seen.add(img_id)
        ids.append(img_id)
    if not ids:
        raise ValueError(f'split file {path} lists no image ids')
    return ids


def read_label_png(path: str) -> np.ndarray:
    """Read a label PNG (palette ``P`` or grayscale ``L``) as a 2-D uint8 array.

    A palette PNG holds the class indices themselves (the palette only colours
    them), so no colour-to-class mapping is needed, unlike an RGB rendering.

    Raises:
        ValueError: naming the file when it cannot be decoded or is not a
            single-channel 8-bit label image.
    """
    try:
        with Image.open(io.BytesIO(get(path))) as img:
            mode = img.mode
            arr = np.asarray(img)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f'{path}: cannot read as a label PNG ({type(e).__name__}: {e})') from e
    if mode not in ('P', 'L') or arr.ndim != 2:
        raise ValueError(f'{path}: a label image must be single-channel (PNG mode P or L) '
                         f'holding class indices, got mode {mode} with shape {arr.shape}')
    return arr.astype(np.uint8, copy=False)


def image_size(path: str) -> Tuple[int, int]:
    """``(height, width)`` of an image, read from its header only (cheap)."""
    try:
        with Image.open(path) as img:
            w, h = img.size
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f'{path}: cannot read the image header ({type(e).__name__}: {e})') from e
    return h, w


def missing_files_message(missing: Sequence[str], total: int, what: str, listed_by: str) -> str:
    """One error text for many missing files: count, a few names, the source."""
    shown = '\n'.join(f'  {p}' for p in missing[:MAX_LISTED])
    more = f'\n  ... and {len(missing) - MAX_LISTED} more' if len(missing) > MAX_LISTED else ''
    return (f'{len(missing)} of {total} {what} listed by {listed_by} are missing:\n'
            f'{shown}{more}')


def check_files_exist(paths: Dict[str, Sequence[Optional[str]]], listed_by: str) -> None:
    """Raise one ``FileNotFoundError`` for all missing files of all kinds.

    Args:
        paths: ``{kind: [path, ...]}``, e.g. ``{'images': [...], 'masks': [...]}``;
            ``None`` entries are skipped.
        listed_by: what listed them (the split file), for the message.
    """
    messages = []
    for what, group in paths.items():
        group = [p for p in group if p is not None]
        if not group:
            continue
        backend = get_file_backend(group[0])
        missing = [p for p in group if not backend.exists(p)]
        if missing:
            messages.append(missing_files_message(missing, len(group), what, listed_by))
    if messages:
        raise FileNotFoundError('\n'.join(messages))


def sample_id(sample: Any) -> str:
    """The image id of a sample: its ``img_id``, else the stem of its ``img_path``.

    Works for dataset entries and pipeline results (dicts) and for data
    samples (mmengine ``BaseDataElement``, whose ``get`` reads the metainfo).

    Raises:
        KeyError: when the sample has neither.
    """
    img_id = sample.get('img_id')
    if img_id is not None:
        return str(img_id)
    img_path = sample.get('img_path')
    if img_path:
        return osp.splitext(osp.basename(img_path))[0]
    raise KeyError('the sample has neither "img_id" nor "img_path" to name its files')


def voc_palette() -> List[int]:
    """The standard 256-entry PASCAL VOC colour map, flat ``[r, g, b, ...]``.

    Built with the bit-interleaving rule of the VOC devkit (``labelcolormap``),
    so 0 is black, 1 (aeroplane) is (128, 0, 0) and 255 (boundary / ignore) is
    (224, 224, 192), as in the PNGs shipped with VOC.
    """
    palette = []
    for label in range(256):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def label_png_bytes(label: np.ndarray, palette: Optional[Sequence[int]] = None) -> bytes:
    """A label map as PNG bytes: palette mode (``P``) with the given palette
    (VOC's by default), so viewers show colours and readers get the indices."""
    label = np.asarray(label)
    if label.ndim != 2 or label.min() < 0 or label.max() > 255:
        raise ValueError(f'a label PNG holds a 2-D map of values 0..255, got {label.shape} '
                         f'in [{label.min()}, {label.max()}]')
    img = Image.fromarray(label.astype(np.uint8), 'P')
    img.putpalette(list(palette) if palette is not None else voc_palette())
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()
