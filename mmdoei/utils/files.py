"""File helpers shared by every stage: split files, label PNGs, image ids.

Only numpy, PIL and mmengine.fileio are used, so these work without mmcv.
"""
import io
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import get, get_file_backend
from PIL import Image

from .io import check_regular_file, read_bytes_bounded

# How many missing files an error message lists before it says "... and N more".
MAX_LISTED = 5

#: The largest split or label file read (bytes). COCO's train list is about
#: 2 MB; anything far larger is not a list of ids (or is /dev/zero).
MAX_LIST_BYTES = 64 << 20

#: Environment variable that sets the image pixel budget (:func:`max_image_pixels`).
PIXEL_BUDGET_ENV = 'MMDOEI_MAX_IMAGE_PIXELS'
#: The default budget: 50 Mpx. The largest VOC image is 500 x 500 (0.25 Mpx),
#: COCO's 640 x 640 (0.4 Mpx), so real data has a margin of over 100x.
DEFAULT_PIXEL_BUDGET = 50_000_000


def is_local(path: Any) -> bool:
    """Whether ``path`` is a local path rather than a URI (``s3://...``)."""
    return '://' not in str(path)


def max_image_pixels() -> int:
    """The most pixels an image, label PNG or CAM may have: the smaller of
    ``$MMDOEI_MAX_IMAGE_PIXELS`` (default :data:`DEFAULT_PIXEL_BUDGET`, 50
    Mpx) and Pillow's decompression-bomb limit (89 Mpx, which mmdoei never lifts).

    Why stricter than Pillow: Pillow's limit bounds what Pillow itself
    decodes (89 Mpx RGB is 268 MB), but a run holds many copies of an image
    at once: OpenCV's BGR decode, the float32 tensor (4 bytes a channel),
    every scale and flip of CAM generation, and a float32 map per class
    (a CAM file of 4 classes at 81 Mpx took 6 GB to evaluate). At 50 Mpx one
    image is still 600 MB as a float32 tensor, and every VOC/COCO image fits
    with a 100x margin. Raise the budget through the variable for larger
    data, on a machine that has the memory.

    Raises:
        ValueError: naming the variable when it is not a positive integer.
    """
    raw = os.environ.get(PIXEL_BUDGET_ENV, '').strip()
    budget = DEFAULT_PIXEL_BUDGET
    if raw:
        try:
            budget = int(raw)
        except ValueError:
            budget = 0  # not a number: refused below, like a number that is not positive
        if budget <= 0:
            raise ValueError(f'${PIXEL_BUDGET_ENV}={raw!r}: expected a positive number of pixels '
                             f'(default {DEFAULT_PIXEL_BUDGET})')
    pil = Image.MAX_IMAGE_PIXELS
    return budget if pil is None else min(budget, int(pil))


def pixel_limit_text() -> str:
    """Where the pixel limit comes from, for error messages."""
    return (f'(${PIXEL_BUDGET_ENV}, default {DEFAULT_PIXEL_BUDGET}, and at most '
            f'PIL.Image.MAX_IMAGE_PIXELS {Image.MAX_IMAGE_PIXELS})')


def pixel_problem(width: int, height: int) -> Optional[str]:
    """Why an image of ``width x height`` is refused (:func:`max_image_pixels`); None if it is not."""
    limit = max_image_pixels()
    if width * height <= limit:
        return None
    return (f'declares {width} x {height} = {width * height} pixels, more than the limit of {limit} '
            f'{pixel_limit_text()}; refused before decoding as a possible decompression bomb '
            f'({width * height * 3 >> 20} MB as 8-bit RGB)')


def read_text_file(path: str, what: str, limit: Optional[int] = None) -> str:
    """The UTF-8 text of a small file (a split or label list) of at most
    ``limit`` bytes (default :data:`MAX_LIST_BYTES`); a local one must be a
    regular file (checked before it is opened:
    :func:`~mmdoei.utils.io.check_regular_file`).

    Raises:
        FileNotFoundError: naming ``what`` and the file when it does not exist.
        ValueError: naming the file when it is not a regular file, larger
            than ``limit`` or not UTF-8 text.
    """
    limit = MAX_LIST_BYTES if limit is None else limit
    if is_local(path):
        data = read_bytes_bounded(path, limit, what)
    else:
        backend = get_file_backend(path)
        if not backend.exists(path):
            raise FileNotFoundError(f'{what} {path} does not exist')
        data = backend.get(path)
        if len(data) > limit:
            raise ValueError(f'{path}: {what} holds {len(data)} bytes, more than the limit of {limit}; refused')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        raise ValueError(f'{what} {path} is not UTF-8 text ({e})') from None


def split_token_id(token: str, where: str) -> str:
    """The image id named by the first token of a split-file line.

    Accepted: a plain id or file name (``2007_000032``, ``2007_000032.jpg``)
    and PSA's form ``/JPEGImages/2007_000032.jpg`` (one folder, then the file;
    PSA reads it relative to the data root, and so do we: only its stem is
    used). Anything else that names a path (``..``, ``.``, deeper or absolute
    paths, backslashes) is refused, so a split file cannot point a run at
    files outside the data root.

    Raises:
        ValueError: naming ``where`` (``file:line``) and the token.
    """
    parts = token[1:].split('/') if token.startswith('/') else token.split('/')
    stem = osp.splitext(parts[-1])[0]
    psa_form = not token.startswith('/') or len(parts) == 2
    if ('\\' in token or '\x00' in token or len(parts) > 2 or not psa_form
            or any(p in ('', '.', '..') for p in parts) or stem in ('', '.', '..')):
        raise ValueError(f'{where}: {token!r} is not an image id: a split file lists ids '
                         '("2007_000032") or PSA\'s "/JPEGImages/2007_000032.jpg"; paths that could lead '
                         'outside the data root ("..", absolute or nested paths) are refused')
    return stem


def read_split(path: str) -> List[str]:
    """Read image ids from a split file.

    Accepts the plain form (one id per line, as ``ImageSets/Segmentation/*.txt``
    and MCTformer's ``*_id.txt``) and the PSA form
    (``/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png``):
    the id is the file stem of the first token (:func:`split_token_id`).
    Blank lines are skipped.

    Raises:
        FileNotFoundError: naming the split file when it does not exist.
        ValueError: naming the file (and line) when it is not a regular file
            (a FIFO, ``/dev/zero``), larger than :data:`MAX_LIST_BYTES`, not
            UTF-8 text, lists no ids, an id twice, or a path instead of an id.
    """
    text = read_text_file(path, 'split file')
    ids, seen = [], set()
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        img_id = split_token_id(tokens[0], f'{path}:{lineno}')
        if img_id in seen:
            raise ValueError(f'{path}:{lineno}: image id {img_id!r} is listed twice')
        seen.add(img_id)
        ids.append(img_id)
    if not ids:
        raise ValueError(f'split file {path} lists no image ids')
    return ids


def check_inside(paths: Sequence[Optional[str]], folder: str, what: str, listed_by: str) -> None:
    """Refuse files that resolve (through ``..`` or symlinks) outside ``folder``.

    A symlinked ``folder`` itself is fine (data often lives on another
    disk); a file inside it that links out of it is not, since a split file
    or a planted link could then make a run read, and write results named
    after, files anywhere. URIs (``s3://...``) and ``None`` are skipped.

    Raises:
        ValueError: naming ``listed_by``, the folder and the first offenders.
    """
    if '://' in folder:
        return
    root = osp.realpath(folder)
    bad = [p for p in paths if p and '://' not in p
           and osp.commonpath([root, osp.realpath(p)]) != root]
    if bad:
        shown = '\n'.join(f'  {p} -> {osp.realpath(p)}' for p in bad[:MAX_LISTED])
        more = f'\n  ... and {len(bad) - MAX_LISTED} more' if len(bad) > MAX_LISTED else ''
        raise ValueError(f'{len(bad)} {what} listed by {listed_by} resolve outside {folder} '
                         f'(".." or a symlink out of the data tree), refused:\n{shown}{more}')


def read_label_png(path: str) -> np.ndarray:
    """Read a label PNG (palette ``P`` or grayscale ``L``) as a 2-D uint8 array.

    A palette PNG holds the class indices themselves (the palette only colours
    them), so no colour-to-class mapping is needed, unlike an RGB rendering.
    A local file must be a regular file, and its size (from the header) must
    be within :func:`max_image_pixels` before it is decoded.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file when it is not a regular file, declares
            too many pixels, cannot be decoded (a failed allocation included)
            or is not a single-channel 8-bit label image.
    """
    if is_local(path):
        check_regular_file(path, 'label PNG')
    try:
        with Image.open(io.BytesIO(get(path))) as img:
            mode = img.mode
            problem = pixel_problem(img.width, img.height)
            if problem:
                raise ValueError(problem)
            arr = np.asarray(img)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f'{path}: cannot read as a label PNG ({type(e).__name__}: {e})') from e
    if mode not in ('P', 'L') or arr.ndim != 2:
        raise ValueError(f'{path}: a label image must be single-channel (PNG mode P or L) '
                         f'holding class indices, got mode {mode} with shape {arr.shape}')
    return arr.astype(np.uint8, copy=False)


#: EXIF orientations that swap width and height (transposed or rotated by 90 degrees).
_EXIF_TRANSPOSED = (5, 6, 7, 8)


def image_size(path: str) -> Tuple[int, int]:
    """``(height, width)`` of an image as the pipelines load it, read from its
    header only (cheap).

    mmcv's ``LoadImageFromFile`` (OpenCV) applies the EXIF orientation, so an
    image tagged as rotated by 90 degrees loads with height and width
    swapped; so does this size (Pillow reports TIFF sizes already oriented).
    The size is also checked against the pixel budget
    (:func:`max_image_pixels`: at most Pillow's decompression-bomb limit,
    which mmdoei never lifts): OpenCV has a far higher one, so this is the
    check that stops a small file from decoding into gigabytes. A local file
    must be a regular file (checked before it is opened, so a FIFO cannot
    block the run).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file when it is not a regular file, its header
            cannot be read, it declares more pixels than the limit, or it is
            not an 8-bit image (16-bit, 32-bit integer or float modes:
            :func:`deep_mode_problem`).
    """
    if is_local(path):
        check_regular_file(path, 'image')
    try:
        with Image.open(path) as img:
            w, h = img.size
            fmt = img.format
            mode = img.mode
            orientation = img.getexif().get(0x0112) if fmt != 'TIFF' else None
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f'{path}: cannot read the image header ({type(e).__name__}: {e})') from e
    problem = pixel_problem(w, h)
    if problem:
        raise ValueError(f'{path}: image {problem}')
    problem = deep_mode_problem(mode)
    if problem:
        raise ValueError(f'{path}: {problem}')
    return (w, h) if orientation in _EXIF_TRANSPOSED else (h, w)


#: Pillow modes of more than 8 bits a channel: 16-bit and 32-bit integer, 32-bit float.
_DEEP_MODES = ('I', 'F')


def deep_mode_problem(mode: str) -> Optional[str]:
    """Why an image of Pillow ``mode`` is refused, or None: mmdoei reads 8-bit images only.

    A 16-bit (``I;16``), 32-bit integer (``I``) or float (``F``) image has no
    single 8-bit reading: Pillow's ``convert('RGB')`` (the ``pillow`` loader)
    clips every value above 255 to white, OpenCV scales 16 bits down, so the
    loaders would silently disagree, and CAMs of a white image mean nothing.
    """
    if not mode.startswith(_DEEP_MODES):
        return None
    depth = '16-bit' if ';16' in mode else ('32-bit float' if mode.startswith('F') else '32-bit integer')
    return (f'image mode {mode} is {depth}; mmdoei reads 8-bit images only (converting it here would clip '
            'or rescale it silently, and the loaders do it differently): convert it to 8 bits first, '
            'scaled as it should be seen, e.g. with numpy (img / img.max() * 255).astype(np.uint8) '
            'or ImageMagick (convert IN -depth 8 OUT.png)')


def missing_files_message(missing: Sequence[str], total: int, what: str, listed_by: str) -> str:
    """One error text for many missing files: count, a few names, the source."""
    shown = '\n'.join(f'  {p}' for p in missing[:MAX_LISTED])
    more = f'\n  ... and {len(missing) - MAX_LISTED} more' if len(missing) > MAX_LISTED else ''
    return (f'{len(missing)} of {total} {what} listed by {listed_by} are missing:\n'
            f'{shown}{more}')


def check_files_exist(paths: Dict[str, Sequence[Optional[str]]], listed_by: str) -> None:
    """Raise one error for all missing (or not regular) files of all kinds.

    Local files must be regular files (symlinks to them are fine): a FIFO
    would block the run that opens it and a link to ``/dev/zero`` would fill
    its memory, so they are refused here, before any is opened.

    Args:
        paths: ``{kind: [path, ...]}``, e.g. ``{'images': [...], 'masks': [...]}``;
            ``None`` entries are skipped.
        listed_by: what listed them (the split file), for the message.

    Raises:
        FileNotFoundError: listing the missing files of every kind.
        ValueError: listing the files that exist but are not regular files
            (FIFOs, devices, folders), when none is missing.
    """
    messages, irregular = [], []
    for what, group in paths.items():
        group = [p for p in group if p is not None]
        if not group:
            continue
        missing, bad = [], []
        if is_local(group[0]):
            for p in group:
                try:
                    check_regular_file(p, 'file')
                except FileNotFoundError:
                    missing.append(p)
                except ValueError as e:
                    bad.append(str(e))
        else:
            backend = get_file_backend(group[0])
            missing = [p for p in group if not backend.exists(p)]
        if missing:
            messages.append(missing_files_message(missing, len(group), what, listed_by))
        if bad:
            more = f'\n  ... and {len(bad) - MAX_LISTED} more' if len(bad) > MAX_LISTED else ''
            irregular.append(f'{len(bad)} of {len(group)} {what} listed by {listed_by} are not regular files:\n  '
                             + '\n  '.join(bad[:MAX_LISTED]) + more)
    if messages:
        raise FileNotFoundError('\n'.join(messages))
    if irregular:
        raise ValueError('\n'.join(irregular))


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
