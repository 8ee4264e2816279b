r"""PASCAL VOC 2012 + SBD: ``SegmentationClassAug`` and ``train_aug.txt`` (datasets: VOC 2012 + SBD, see
docs/datasets.md).

    python tools/dataset_converters/voc_aug.py VOCtrainval_11-May-2012.tar benchmark.tgz --out-dir data

VOC and SBD may also be the extracted folders (``VOCdevkit`` or ``VOCdevkit/VOC2012``;
``benchmark_RELEASE`` or its ``dataset`` folder). A VOC tar is extracted under
``--out-dir`` (giving ``OUT/VOCdevkit/VOC2012``, the ``data_root`` of the VOC configs);
SBD's tgz is read as a stream (only ``dataset/cls/*.mat`` and its ``train.txt``/``val.txt``).
Written into ``VOC2012``:

* ``SegmentationClassAug/{id}.png``: VOC's own ``SegmentationClass`` masks where they
  exist (with their 255 boundaries), else SBD's ``cls/{id}.mat`` ``GTcls.Segmentation``
  as a palette PNG with VOC's colours (values 0..20);
* ``ImageSets/Segmentation/train_aug.txt``: SBD train + SBD val + VOC train, minus VOC
  val, sorted (10,582 ids from the full archives; mmseg's converter calls it ``aug.txt``).

Both archives are checked in a first pass over their member headers before anything
is extracted or written (no absolute paths, no ``..``, no links, devices or duplicates,
bounded sizes; the VOC tar complete: every listed id with its JPEG, every val id with
its mask; SBD's tgz read to its end). Each SBD ``.mat`` is checked before it is decoded
(bounded decompressed size, array dimensions within the pixel budget), each mask
against its JPEG's size. Every file is written atomically; ``VOC2012/.mmdoei-record.json``
records the inputs: a rerun with the same ones resumes (keeping what is there), one with
other inputs stops naming the difference (``--overwrite`` deletes this converter's
outputs and starts again). When the inputs are the full releases, the counts are checked
against the official ones (an error if they differ).
"""
import argparse
import gzip
import hashlib
import io
import lzma
import math
import os
import re
import struct
import sys
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Dict, Iterator, List, Optional, Set, Tuple

import numpy as np

#: The official counts of the full releases (VOC 2012 trainval segmentation lists, SBD's lists,
#: the train_aug list the WSSS papers use and the masks SegmentationClassAug then holds).
OFFICIAL = dict(voc_train=1464, voc_val=1449, sbd_train=8498, sbd_val=2857, train_aug=10582, aug_masks=12031)
#: The largest member either archive needs (a JPEG or .mat of a few hundred kB); anything larger is refused.
MAX_MEMBER_BYTES = 64 << 20
#: Bound of what one archive may extract in all (the VOC tar holds about 2 GB).
MAX_TOTAL_BYTES = 16 << 30
#: Bound of what one SBD .mat may decompress to (SBD's are about 300 kB decompressed).
MAX_MAT_DECOMPRESSED = 64 << 20
NUM_CLASSES = 20  # foreground classes; masks hold 0..20 and 255
#: Bumped when the outputs for the same inputs change (part of the output record).
CONVERTER_VERSION = 2
#: The top-level folders of VOCdevkit/VOC2012 in VOCtrainval_11-May-2012.tar (nothing else is extracted).
VOC_FOLDERS = ('Annotations', 'ImageSets', 'JPEGImages', 'SegmentationClass', 'SegmentationObject')
_MAT = re.compile(r'(?:^|/)dataset/cls/([^/]+)\.mat$')
_SBD_LIST = re.compile(r'(?:^|/)dataset/(train|val)\.txt$')


def _sbd_member(member: tarfile.TarInfo, path: PurePosixPath) -> Tuple[Optional[str], Optional[str]]:
    """``('mat', image id)``, ``('list', 'train' | 'val')`` or ``(None, None)`` for a member of SBD's
    tgz: the one place both the header pass and the reading pass classify members."""
    if member.isfile():
        for kind, pattern in (('mat', _MAT), ('list', _SBD_LIST)):
            hit = pattern.search(str(path))
            if hit:
                return kind, hit.group(1)
    return None, None


#: What reading a damaged archive raises (tarfile itself, gzip/bz2/lzma below it), not writing.
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)
#: The same and any OSError: while nothing is written, all of them mean a damaged archive.
ARCHIVE_ERRORS = READ_ERRORS + (OSError, )

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _light_utils import utils as _utils  # noqa: E402  (mmdoei's torch-free helpers)


def safe_members(archive: Path, tar) -> Iterator[Tuple[tarfile.TarInfo, PurePosixPath]]:
    """The members of ``tar`` (a ``TarFile`` or a list of its members), each checked before it is used.

    Yields ``(member, path)`` for files and folders. Raises ``ValueError``
    naming the archive and the member for an absolute path, a ``..``
    component, a link (symbolic or hard), a device or FIFO, a file larger
    than :data:`MAX_MEMBER_BYTES`, a file that is in the archive twice (tar
    would keep the last, this converter keeps neither), or more than
    :data:`MAX_TOTAL_BYTES` in all.
    """
    total = 0
    seen: Set[str] = set()
    for m in tar:
        path = PurePosixPath(m.name)
        where = f'{archive}: member {m.name!r}'
        if m.name.startswith(('/', '\\')) or path.is_absolute() or re.match(r'^[A-Za-z]:', m.name):
            raise ValueError(f'{where} has an absolute path; refused (not an official archive?)')
        if '..' in path.parts:
            raise ValueError(f'{where} contains "..", which would write outside the output folder; refused')
        if m.issym() or m.islnk():
            raise ValueError(f'{where} is a link (to {m.linkname!r}); links are refused')
        if not (m.isfile() or m.isdir()):
            raise ValueError(f'{where} is not a regular file or folder (a device or FIFO); refused')
        if m.size > MAX_MEMBER_BYTES:
            raise ValueError(f'{where} is {m.size} bytes, more than the {MAX_MEMBER_BYTES} bytes any file of '
                             'the VOC/SBD archives has; refused')
        if m.isfile():
            if str(path) in seen:
                raise ValueError(f'{where} is in the archive twice (which copy is meant?); refused')
            seen.add(str(path))
        total += m.size
        if total > MAX_TOTAL_BYTES:
            raise ValueError(f'{archive}: more than {MAX_TOTAL_BYTES} bytes of files; refused')
        yield m, path


def _read_member(archive: Path, tar: tarfile.TarFile, m: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(m)
    data = f.read(MAX_MEMBER_BYTES + 1) if f is not None else b''
    if len(data) != m.size:
        raise ValueError(f'{archive}: member {m.name!r} holds {len(data)} bytes, its header says {m.size} '
                         '(truncated archive?)')
    return data


def _copy_atomic(archive: Path, src: IO[bytes], dst: Path, size: int) -> None:
    with _utils('io').atomic_write(dst) as out:
        left = size
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise ValueError(f'{archive}: the member for {dst} ends {left} bytes early (truncated archive?)')
            out.write(chunk)
            left -= len(chunk)


def open_archive(archive: Path, mode: str) -> tarfile.TarFile:
    """``tarfile.open`` with its errors as ``ValueError`` naming the archive."""
    if archive.is_file() and archive.stat().st_size == 0:
        raise ValueError(f'{archive}: an empty file (0 bytes), not a tar archive')
    try:
        return tarfile.open(archive, mode)
    except ARCHIVE_ERRORS as e:
        raise ValueError(f'{archive}: not a readable tar archive ({type(e).__name__}: {e})') from e


def voc_members(archive: Path) -> Tuple[tarfile.TarFile, List[tarfile.TarInfo]]:
    """First pass over the VOC tar (headers only): every member checked (:func:`safe_members`),
    under ``VOCdevkit/VOC2012/`` in one of :data:`VOC_FOLDERS`, and the archive complete: its
    ``train.txt``/``val.txt`` there, every listed id with its JPEG, every val id with its
    ``SegmentationClass`` PNG, the last member's data inside the file. Nothing is written.

    Returns the open archive (random access) and its file members; ``ValueError`` naming it otherwise.
    """
    tar = open_archive(archive, 'r:*')
    try:
        try:
            members = tar.getmembers()
        except ARCHIVE_ERRORS as e:
            raise ValueError(f'{archive}: damaged or truncated archive ({type(e).__name__}: {e})') from e
        files = []
        for m, path in safe_members(archive, members):
            parts = path.parts
            if parts[:2] != ('VOCdevkit', 'VOC2012')[:len(parts)] or (len(parts) > 2 and parts[2] not in VOC_FOLDERS) \
                    or (m.isfile() and len(parts) < 4):
                raise ValueError(f'{archive}: member {m.name!r} is not in VOCdevkit/VOC2012/{{{",".join(VOC_FOLDERS)}}}'
                                 '; is this VOCtrainval_11-May-2012.tar?')
            if m.isfile():
                files.append(m)
        if not files:
            raise ValueError(f'{archive}: no files under VOCdevkit/VOC2012; is this VOCtrainval_11-May-2012.tar?')
        if tar.fileobj is not None and archive.suffix == '.tar':
            last = max(files, key=lambda m: m.offset_data)
            if last.offset_data + last.size > archive.stat().st_size:
                raise ValueError(f'{archive}: truncated: member {last.name!r} ends at byte '
                                 f'{last.offset_data + last.size}, the file has {archive.stat().st_size}')
        by_name = {m.name.rstrip('/'): m for m in files}
        sets = 'VOCdevkit/VOC2012/ImageSets/Segmentation'
        lists = {}
        for split in ('train', 'val'):
            name = f'{sets}/{split}.txt'
            if name not in by_name:
                raise ValueError(f'{archive}: no {name} (truncated, or not VOCtrainval_11-May-2012.tar?)')
            lists[split] = parse_ids(_read_member(archive, tar, by_name[name]).decode('utf-8', 'replace'),
                                     f'{archive}: {name}')
        need = [f'VOCdevkit/VOC2012/JPEGImages/{i}.jpg' for i in lists['train'] + lists['val']]
        need += [f'VOCdevkit/VOC2012/SegmentationClass/{i}.png' for i in lists['val']]
        missing = [n for n in need if n not in by_name]
        if missing:
            raise ValueError(f'{archive}: {len(missing)} files its train/val lists need are not in it (truncated '
                             f'archive?): {", ".join(missing[:3])}' + (' ...' if len(missing) > 3 else ''))
        return tar, files
    except BaseException:
        tar.close()
        raise


def extract_voc(archive: Path, out_dir: Path, tar: tarfile.TarFile, files: List[tarfile.TarInfo]) -> Path:
    """Extract the checked members (:func:`voc_members`) under ``out_dir``; returns ``out_dir/VOCdevkit/VOC2012``.

    A file already there with the member's size is kept (a rerun resumes; the
    output record says it came from the same archive); new files are written atomically.
    """
    kept = 0
    for m in files:
        dst = out_dir.joinpath(*PurePosixPath(m.name).parts)
        if dst.is_file() and dst.stat().st_size == m.size:
            kept += 1
            continue
        try:
            _copy_atomic(archive, tar.extractfile(m), dst, m.size)
        except READ_ERRORS as e:
            raise ValueError(f'{archive}: member {m.name!r}: damaged or truncated ({type(e).__name__}: {e})') from e
    print(f'[voc_aug] {archive}: {len(files)} files ({kept} already there)')
    return out_dir / 'VOCdevkit' / 'VOC2012'


def find_voc_root(folder: Path) -> Path:
    """``VOCdevkit/VOC2012`` given it or its ``VOCdevkit`` parent (``ValueError`` naming the folder otherwise)."""
    for cand in (folder, folder / 'VOC2012', folder / 'VOCdevkit' / 'VOC2012'):
        if (cand / 'ImageSets' / 'Segmentation').is_dir():
            return cand
    raise ValueError(f'{folder}: no ImageSets/Segmentation found in it, in {folder}/VOC2012 or in '
                     f'{folder}/VOCdevkit/VOC2012; give the VOC 2012 tar or its extracted VOCdevkit folder')


def parse_ids(text: str, where: str) -> List[str]:
    """Ids of a list file (one per line, blank lines ignored; ``ValueError`` naming ``where`` on a bad line)."""
    ids = []
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 1 or not re.fullmatch(r'[A-Za-z0-9_.-]+', tokens[0]) or tokens[0].startswith('.'):
            raise ValueError(f'{where}:{lineno}: expected one image id per line, got {line!r}')
        ids.append(tokens[0])
    return ids


# ------------------------------------------------------------------ MATLAB 5 files, checked before decoding
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_MX_CELL, _MX_STRUCT, _MX_OBJECT = 1, 2, 3


def _tag(buf: bytes, pos: int, end: int, e: str, where: str) -> Tuple[int, int, int, int]:
    """``(type, data start, nbytes, next element)`` of the data element at ``pos`` (long or small format)."""
    if pos + 8 > end:
        raise ValueError(f'{where}: truncated MATLAB data element at byte {pos}')
    w0, w1 = struct.unpack_from(e + 'II', buf, pos)
    if w0 >> 16:  # small data element: type and size in one word, data in the next 4 bytes
        return w0 & 0xFFFF, pos + 4, w0 >> 16, pos + 8
    start = pos + 8
    if start + w1 > end:
        raise ValueError(f'{where}: MATLAB data element at byte {pos} declares {w1} bytes, past its end')
    return w0, start, w1, start + w1 + (-w1 % 8)


def _check_matrix(buf: bytes, start: int, nbytes: int, e: str, label: str, limit: int, where: str,
                  depth: int = 0) -> None:
    """Refuse an array (in a struct or cell, recursively) whose declared dimensions exceed ``limit`` elements."""
    if depth > 16:
        raise ValueError(f'{where}: structs/cells nested more than 16 deep; refused')
    if nbytes == 0:
        return  # an empty array
    end = start + nbytes
    _, s, _, pos = _tag(buf, start, end, e, where)  # array flags
    cls = struct.unpack_from(e + 'I', buf, s)[0] & 0xFF
    _, s, n, pos = _tag(buf, pos, end, e, where)  # dimensions
    dims = struct.unpack_from(f'{e}{n // 4}i', buf, s)
    _, s, n, pos = _tag(buf, pos, end, e, where)  # name (a variable's; empty in structs and cells)
    label = label or buf[s:s + n].decode('latin-1')
    if any(d < 0 for d in dims):
        raise ValueError(f'{where}: {label or "an array"} declares negative dimensions {list(dims)}')
    count = math.prod(dims)
    if cls not in (_MX_CELL, _MX_STRUCT, _MX_OBJECT):
        if count > limit:
            from_files = _utils('files')
            raise ValueError(f'{where}: {label or "an array"} declares {" x ".join(map(str, dims))} = {count} '
                             f'elements, more than the limit of {limit} pixels {from_files.pixel_limit_text()}; '
                             'refused before decoding')
        return
    if cls == _MX_OBJECT:
        _, s, n, pos = _tag(buf, pos, end, e, where)  # class name
    fields = ['']
    if cls in (_MX_STRUCT, _MX_OBJECT):
        _, s, n, pos = _tag(buf, pos, end, e, where)  # field name length
        flen = struct.unpack_from(e + 'i', buf, s)[0]
        _, s, n, pos = _tag(buf, pos, end, e, where)  # field names
        if flen <= 0:
            raise ValueError(f'{where}: {label}: field name length {flen}')
        fields = [buf[s + k:s + k + flen].split(b'\0')[0].decode('latin-1') for k in range(0, n, flen)] or ['']
    k = 0
    while pos < end and k < count * len(fields):  # every child takes at least 8 bytes: bounded by the buffer
        typ, s, n, nxt = _tag(buf, pos, end, e, where)
        if typ != _MI_MATRIX:
            raise ValueError(f'{where}: {label}: element of type {typ} where an array was expected')
        _check_matrix(buf, s, n, e, f'{label}.{fields[k % len(fields)]}' if fields[0] else f'{label}{{{k}}}',
                      limit, where, depth + 1)
        pos, k = nxt, k + 1


def checked_mat_bytes(data: bytes, where: str) -> bytes:
    """A MATLAB 5 file with its compressed elements decompressed (at most :data:`MAX_MAT_DECOMPRESSED`
    bytes in all) and every array's declared dimensions checked against the pixel budget
    (:func:`mmdoei.utils.files.max_image_pixels`), all before scipy decodes any array.

    Raises ``ValueError`` naming ``where`` otherwise (a 3 kB file must not decode into gigabytes).
    """
    if len(data) < 128 or data[126:128] not in (b'IM', b'MI'):
        raise ValueError(f'{where}: not a MATLAB 5 .mat file (SBD\'s format): no MATLAB 5 header')
    e = '<' if data[126:128] == b'IM' else '>'
    parts, total, pos = [data[:128]], 128, 128
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f'{where}: truncated MATLAB file ({len(data) - pos} stray bytes at its end)')
        typ, nbytes = struct.unpack_from(e + 'II', data, pos)
        body = data[pos + 8:pos + 8 + nbytes]
        if len(body) != nbytes:
            raise ValueError(f'{where}: truncated MATLAB file (an element of {nbytes} bytes at byte {pos}, '
                             f'the file has {len(data)})')
        pos += 8 + nbytes
        if typ == _MI_COMPRESSED:
            room = MAX_MAT_DECOMPRESSED - total
            try:
                raw = zlib.decompressobj().decompress(body, room + 1)
            except zlib.error as err:
                raise ValueError(f'{where}: damaged compressed MATLAB element ({err})') from err
            if len(raw) > room:
                raise ValueError(f'{where}: decompresses to more than {MAX_MAT_DECOMPRESSED} bytes (SBD\'s masks '
                                 'take about 300 kB); refused as a possible decompression bomb')
            parts.append(raw)
            total += len(raw)
        elif typ == _MI_MATRIX:
            parts.append(data[pos - 8 - nbytes:pos])
            total += 8 + nbytes
        else:
            raise ValueError(f'{where}: unexpected MATLAB element of type {typ} at the top level')
    buf = b''.join(parts)
    limit = _utils('files').max_image_pixels()
    pos = 128
    while pos < len(buf):
        typ, s, n, _ = _tag(buf, pos, len(buf), e, where)
        if typ != _MI_MATRIX:
            raise ValueError(f'{where}: unexpected MATLAB element of type {typ} (a damaged compressed element?)')
        _check_matrix(buf, s, n, e, '', limit, where)
        pos = s + n
    return buf


def sbd_label(data: bytes, where: str) -> np.ndarray:
    """The class map of an SBD ``cls/*.mat`` file (``GTcls.Segmentation``) as a 2-D uint8 array.

    Raises ``ValueError`` naming ``where`` when the file is not a MATLAB 5 file
    with that struct, declares arrays beyond the pixel budget or decompresses
    beyond :data:`MAX_MAT_DECOMPRESSED` (:func:`checked_mat_bytes`, before
    decoding), or holds values outside 0..20.
    """
    import scipy.io
    data = checked_mat_bytes(data, where)
    try:
        mat = scipy.io.loadmat(io.BytesIO(data), struct_as_record=False, squeeze_me=True)
    except Exception as e:  # scipy raises several types for a damaged file; each is named below
        raise ValueError(f'{where}: not a MATLAB .mat file ({type(e).__name__}: {e})') from e
    seg = getattr(mat.get('GTcls'), 'Segmentation', None)
    if seg is None:
        raise ValueError(f"{where}: no GTcls.Segmentation struct field (SBD's cls/*.mat layout); "
                         f'variables: {sorted(k for k in mat if not k.startswith("__"))}')
    seg = np.asarray(seg)
    if seg.ndim != 2 or seg.dtype.kind not in 'iu':
        raise ValueError(f'{where}: GTcls.Segmentation must be a 2-D integer map, got {seg.dtype} {seg.shape}')
    bad = np.setdiff1d(np.unique(seg), np.arange(NUM_CLASSES + 1))
    if bad.size:
        raise ValueError(f'{where}: GTcls.Segmentation holds {bad.tolist()[:5]}, outside the classes 0..20')
    return seg.astype(np.uint8)


def _sbd_base(sbd: Path) -> Path:
    base = sbd / 'dataset' if (sbd / 'dataset' / 'cls').is_dir() else sbd
    if not (base / 'cls').is_dir():
        raise ValueError(f'{sbd}: no cls/ folder in it or in {sbd}/dataset; give benchmark.tgz or its '
                         'extracted benchmark_RELEASE folder')
    for split in ('train', 'val'):
        if not (base / f'{split}.txt').is_file():
            raise ValueError(f'{sbd}: no {base / f"{split}.txt"}; is this SBD\'s benchmark_RELEASE?')
    return base


def check_sbd(sbd: Path) -> None:
    """First pass over SBD, before VOC is extracted or anything written: the folder's layout, or
    every header of the tgz (:func:`safe_members`; read to its end, so a truncated or damaged
    archive fails here) with its ``dataset/train.txt``, ``dataset/val.txt`` and ``cls/*.mat``."""
    if sbd.is_dir():
        _sbd_base(sbd)
        return
    lists: Set[str] = set()
    mats: Set[str] = set()
    with open_archive(sbd, 'r|*') as tar:
        try:
            for m, path in safe_members(sbd, tar):
                kind, name = _sbd_member(m, path)
                if kind == 'mat':
                    if name in mats:
                        raise ValueError(f'{sbd}: two members give cls/{name}.mat ({str(path)!r} is the '
                                         'second); refused')
                    mats.add(name)
                elif kind == 'list':
                    if name in lists:
                        raise ValueError(f'{sbd}: two members give dataset/{name}.txt; refused')
                    lists.add(name)
        except ARCHIVE_ERRORS as e:
            raise ValueError(f'{sbd}: damaged or truncated archive ({type(e).__name__}: {e})') from e
    for split in ('train', 'val'):
        if split not in lists:
            raise ValueError(f'{sbd}: no dataset/{split}.txt; is this SBD\'s benchmark.tgz?')
    if not mats:
        raise ValueError(f'{sbd}: no dataset/cls/*.mat; is this SBD\'s benchmark.tgz?')


def iter_sbd(sbd: Path) -> Iterator[Tuple[str, str, bytes]]:
    """``(kind, name, bytes)`` of SBD's ``train``/``val`` lists (kind ``'list'``) and
    ``cls/*.mat`` files (kind ``'mat'``, name the image id), from the tgz or a folder."""
    if sbd.is_dir():
        base = _sbd_base(sbd)
        for split in ('train', 'val'):
            yield 'list', split, (base / f'{split}.txt').read_bytes()
        for mat in sorted((base / 'cls').glob('*.mat')):
            yield 'mat', mat.stem, _utils('io').read_bytes_bounded(mat, MAX_MEMBER_BYTES, 'SBD .mat')
        return
    with open_archive(sbd, 'r|*') as tar:
        try:
            for m, path in safe_members(sbd, tar):
                kind, name = _sbd_member(m, path)
                if kind:
                    yield kind, name, _read_member(sbd, tar, m)
        except ARCHIVE_ERRORS as e:
            raise ValueError(f'{sbd}: damaged or truncated archive ({type(e).__name__}: {e})') from e


def describe_input(path: Path, patterns: List[str]) -> dict:
    """What the output record keeps of an input: an archive's path, size and mtime; a folder's
    path and a sha256 of the names, sizes and mtimes of its files matching ``patterns``."""
    path = path.resolve()
    if path.is_file():
        st = path.stat()
        return dict(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns)
    lines = []
    for pattern in patterns:
        for p in sorted(path.glob(pattern)):
            if p.is_file():
                st = p.stat()
                lines.append(f'{p.relative_to(path)} {st.st_size} {st.st_mtime_ns}')
    return dict(path=str(path), files=len(lines), listing_sha256=hashlib.sha256('\n'.join(lines).encode()).hexdigest())


def remove_temporaries(root: Path, folders: List[Path]) -> int:
    """Remove the ``.<name>.<random>.tmp`` files a killed run left (``atomic_write``'s), under the lock."""
    count = 0
    for folder in folders:
        for p in folder.glob('.*.tmp') if folder.is_dir() else ():
            if p.is_file() and not p.is_symlink():
                p.unlink()
                count += 1
    if count:
        print(f'[voc_aug] removed {count} temporary files a killed run left under {root}')
    return count


def check_official(name: str, got: int, full: bool) -> str:
    """``'name: N'`` with the official count; ``ValueError`` when ``full`` and they differ."""
    want = OFFICIAL[name]
    if got == want:
        return f'{name}: {got} (official {want}: ok)'
    if full:
        raise ValueError(f'{name}: {got}, but the full releases give {want}; an archive is damaged or '
                         'incomplete (check its checksum, docs/datasets.md)')
    return f'{name}: {got} (official {want}; not the full release, count not checked)'


def _check_size(mask_shape: Tuple[int, int], image: Path, where: str) -> None:
    """A mask must have its image's size (read from the JPEG's header: cheap)."""
    if not image.is_file():
        return  # a missing image is reported with the list that needs it
    h, w = _utils('files').image_size(str(image))
    if tuple(mask_shape) != (h, w):
        raise ValueError(f'{where}: mask of {mask_shape[0]} x {mask_shape[1]} pixels, but its image {image} is '
                         f'{h} x {w}')


def convert(voc: Path, sbd: Path, out_dir: Path, overwrite: bool = False) -> Dict[str, int]:
    """Make ``SegmentationClassAug`` and ``train_aug.txt``; returns the counts (also printed).

    Order: both inputs are checked (the VOC tar's headers, then SBD's, in a
    first pass each) before anything is written; then, under the VOC folder's
    lock, stale temporaries of a killed run are removed and the folder is
    claimed with a record of the inputs (:mod:`mmdoei.utils.record`): the same
    inputs resume, other ones stop (``overwrite`` deletes this converter's
    outputs and starts again).
    """
    files_mod, io_mod, locks, record_mod = (_utils(n) for n in ('files', 'io', 'locks', 'record'))
    for path, what in ((voc, 'VOC 2012 (VOCtrainval_11-May-2012.tar or VOCdevkit)'),
                       (sbd, 'SBD (benchmark.tgz or benchmark_RELEASE)')):
        if not path.exists():
            raise FileNotFoundError(f'{path} does not exist; expected {what}')
    tar = None
    if voc.is_file():
        tar, members = voc_members(voc)
        root = out_dir / 'VOCdevkit' / 'VOC2012'
    else:
        root = find_voc_root(voc)
    try:
        check_sbd(sbd)
        sets = root / 'ImageSets' / 'Segmentation'
        aug_dir = root / 'SegmentationClassAug'
        with locks.folder_lock(root, 'VOC 2012 folder (voc_aug.py)'):
            kind = 'voc_aug_archive' if tar is not None else 'voc_aug'
            stale = [root, aug_dir, sets] + ([d for d in root.rglob('*') if d.is_dir()] if tar is not None else [])
            remove_temporaries(root, sorted(set(stale)))
            record = record_mod.OutputRecord(kind, dict(
                converter='voc_aug', version=CONVERTER_VERSION,
                voc=describe_input(voc if tar is not None else root, [
                    'ImageSets/Segmentation/train.txt', 'ImageSets/Segmentation/val.txt', 'SegmentationClass/*.png']),
                sbd=describe_input(sbd if sbd.is_file() else _sbd_base(sbd), ['cls/*.mat', '*.txt'])))
            state = record_mod.claim(root, record, overwrite=overwrite)
            print(f'[voc_aug] {root}: {state} (output record {root / record_mod.RECORD_FILE})')
            if tar is not None:
                extract_voc(voc, out_dir, tar, members)
            counts = _convert_locked(voc, sbd, root, files_mod, io_mod)
    finally:
        if tar is not None:
            tar.close()
    return counts


def _convert_locked(voc: Path, sbd: Path, root: Path, files_mod, io_mod) -> Dict[str, int]:
    """The masks and the list, in the claimed and locked VOC folder."""
    sets = root / 'ImageSets' / 'Segmentation'
    aug_dir = root / 'SegmentationClassAug'
    jpegs = root / 'JPEGImages'
    voc_lists = {s: parse_ids(files_mod.read_text_file(str(sets / f'{s}.txt'), 'VOC list'), str(sets / f'{s}.txt'))
                 for s in ('train', 'val')}
    files_mod.check_files_exist({'images': [str(jpegs / f'{i}.jpg') for i in voc_lists['val']],
                                 'masks': [str(root / 'SegmentationClass' / f'{i}.png') for i in voc_lists['val']]},
                                str(sets / 'val.txt'))
    # VOC's own masks first: finer (with the 255 boundary band) and they win over SBD's.
    voc_masks: Set[str] = set()
    for png in sorted((root / 'SegmentationClass').glob('*.png')):
        dst = aug_dir / png.name
        voc_masks.add(png.stem)
        if dst.is_file():
            continue
        label = files_mod.read_label_png(str(png))
        bad = np.unique(label[(label > NUM_CLASSES) & (label != 255)])
        if bad.size:
            raise ValueError(f'{png}: mask values {bad.tolist()[:5]} are not VOC classes (0..20, 255)')
        _check_size(label.shape, jpegs / f'{png.stem}.jpg', str(png))
        with io_mod.atomic_write(dst) as f:
            f.write(png.read_bytes())
    sbd_lists: Dict[str, List[str]] = {}
    sbd_mats = written = 0
    for kind, name, data in iter_sbd(sbd):
        if kind == 'list':
            sbd_lists[name] = parse_ids(data.decode('utf-8', 'replace'), f'{sbd}: {name}.txt')
            continue
        sbd_mats += 1
        dst = aug_dir / f'{name}.png'
        if name in voc_masks or dst.is_file():
            continue
        where = f'{sbd}: cls/{name}.mat'
        label = sbd_label(data, where)
        _check_size(label.shape, jpegs / f'{name}.jpg', where)
        with io_mod.atomic_write(dst) as f:
            f.write(files_mod.label_png_bytes(label))
        written += 1
    for split in ('train', 'val'):
        if split not in sbd_lists:
            raise ValueError(f'{sbd}: no dataset/{split}.txt; is this SBD\'s benchmark.tgz?')
    val = set(voc_lists['val'])
    aug = sorted((set(sbd_lists['train']) | set(sbd_lists['val']) | set(voc_lists['train'])) - val)
    files_mod.check_files_exist({'images': [str(jpegs / f'{i}.jpg') for i in aug],
                                 'masks': [str(aug_dir / f'{i}.png') for i in aug]}, 'the train_aug list')
    files_mod.check_files_exist({'masks': [str(aug_dir / f'{i}.png') for i in voc_lists['val']]},
                                f'{sets / "val.txt"}')
    with io_mod.atomic_write(sets / 'train_aug.txt', 'w') as f:
        f.write(''.join(f'{i}\n' for i in aug))
    counts = dict(voc_train=len(voc_lists['train']), voc_val=len(voc_lists['val']),
                  sbd_train=len(sbd_lists['train']), sbd_val=len(sbd_lists['val']), train_aug=len(aug),
                  aug_masks=sum(1 for _ in aug_dir.glob('*.png')))
    full = all(counts[k] == OFFICIAL[k] for k in ('voc_train', 'voc_val', 'sbd_train', 'sbd_val'))
    for k in counts:
        print('[voc_aug] ' + check_official(k, counts[k], full))
    print(f'[voc_aug] {sbd_mats} SBD masks read, {written} written; {len(voc_masks)} VOC masks')
    print(f'[voc_aug] data_root: {root}')
    return counts


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('voc', type=Path, help='VOCtrainval_11-May-2012.tar, or its extracted VOCdevkit folder')
    parser.add_argument('sbd', type=Path, help='benchmark.tgz (SBD), or its extracted benchmark_RELEASE folder')
    parser.add_argument('--out-dir', type=Path, default=Path('data'),
                        help='where a VOC tar is extracted (OUT/VOCdevkit/VOC2012); default: data')
    parser.add_argument('--overwrite', action='store_true',
                        help='the VOC folder holds outputs of other inputs (its output record differs): delete '
                        "this converter's outputs there (with a VOC tar: everything it extracted) and start again")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere, like the other tools
    try:
        convert(args.voc, args.sbd, args.out_dir, overwrite=args.overwrite)
    except (ValueError, OSError, RuntimeError, tarfile.TarError) as e:  # RuntimeError: the folder's LockedError
        print(f'[voc_aug] error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
