"""File helpers shared by the datasets and the seed evaluation.

Only numpy, PIL and mmengine.fileio are used, so these work without mmcv.
"""
import io
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

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
