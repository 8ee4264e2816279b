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

Every file is written atomically and an existing output is kept, so an interrupted run
resumes. Members of the archives are checked before anything is written (no absolute
paths, no ``..``, no links or devices, bounded sizes). When the inputs are the full
releases, the counts are checked against the official ones (an error if they differ).
"""
import argparse
import io
import re
import sys
import tarfile
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
NUM_CLASSES = 20  # foreground classes; masks hold 0..20 and 255
_MAT = re.compile(r'(?:^|/)dataset/cls/([^/]+)\.mat$')
_SBD_LIST = re.compile(r'(?:^|/)dataset/(train|val)\.txt$')


def safe_members(archive: Path, tar: tarfile.TarFile) -> Iterator[Tuple[tarfile.TarInfo, PurePosixPath]]:
    """The members of ``tar``, each checked before it is used.

    Yields ``(member, path)`` for files and folders. Raises ``ValueError``
    naming the archive and the member for an absolute path, a ``..``
    component, a link (symbolic or hard), a device or FIFO, a file larger
    than :data:`MAX_MEMBER_BYTES`, or more than :data:`MAX_TOTAL_BYTES` in all.
    """
    total = 0
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
        total += m.size
        if total > MAX_TOTAL_BYTES:
            raise ValueError(f'{archive}: more than {MAX_TOTAL_BYTES} bytes of files; refused')
        yield m, path


def _read_member(archive: Path, tar: tarfile.TarFile, m: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(m)
    data = f.read(MAX_MEMBER_BYTES + 1) if f is not None else b''
    if len(data) != m.size:
        raise ValueError(f'{archive}: member {m.name!r} holds {len(data)} bytes, its header says {m.size}')
    return data


def _copy_atomic(src: IO[bytes], dst: Path, size: int) -> None:
    from mmdoei.utils.io import atomic_write
    with atomic_write(dst) as out:
        left = size
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise ValueError(f'{dst}: the archive ended {left} bytes early')
            out.write(chunk)
            left -= len(chunk)


def extract_voc(archive: Path, out_dir: Path) -> Path:
    """Extract the VOC 2012 tar under ``out_dir``; returns ``out_dir/VOCdevkit/VOC2012``.

    Only ``VOCdevkit/...`` members are accepted (anything else means this is not
    the VOC archive: ``ValueError`` naming it). A file already there with the
    member's size is kept (a rerun resumes); new files are written atomically.
    """
    count = kept = 0
    with tarfile.open(archive, 'r|*') as tar:
        for m, path in safe_members(archive, tar):
            if path.parts[0] != 'VOCdevkit':
                raise ValueError(f'{archive}: member {m.name!r} is not under VOCdevkit/; is this '
                                 'VOCtrainval_11-May-2012.tar?')
            dst = out_dir.joinpath(*path.parts)
            if m.isdir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            count += 1
            if dst.is_file() and dst.stat().st_size == m.size:
                kept += 1
                continue
            _copy_atomic(tar.extractfile(m), dst, m.size)
    print(f'[voc_aug] {archive}: {count} files ({kept} already there)')
    root = out_dir / 'VOCdevkit' / 'VOC2012'
    if not root.is_dir():
        raise ValueError(f'{archive} has no VOCdevkit/VOC2012 folder; is this VOCtrainval_11-May-2012.tar?')
    return root


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


def sbd_label(data: bytes, where: str) -> np.ndarray:
    """The class map of an SBD ``cls/*.mat`` file (``GTcls.Segmentation``) as a 2-D uint8 array.

    Raises ``ValueError`` naming ``where`` when the file is not a MATLAB file
    with that struct, or holds values outside 0..20.
    """
    import scipy.io
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


def iter_sbd(sbd: Path) -> Iterator[Tuple[str, str, bytes]]:
    """``(kind, name, bytes)`` of SBD's ``train``/``val`` lists (kind ``'list'``) and
    ``cls/*.mat`` files (kind ``'mat'``, name the image id), from the tgz or a folder."""
    if sbd.is_dir():
        base = sbd / 'dataset' if (sbd / 'dataset' / 'cls').is_dir() else sbd
        if not (base / 'cls').is_dir():
            raise ValueError(f'{sbd}: no cls/ folder in it or in {sbd}/dataset; give benchmark.tgz or its '
                             'extracted benchmark_RELEASE folder')
        for split in ('train', 'val'):
            yield 'list', split, (base / f'{split}.txt').read_bytes()
        for mat in sorted((base / 'cls').glob('*.mat')):
            yield 'mat', mat.stem, mat.read_bytes()
        return
    with tarfile.open(sbd, 'r|*') as tar:
        for m, path in safe_members(sbd, tar):
            name = str(path)
            hit = _MAT.search(name)
            if m.isfile() and hit:
                yield 'mat', hit.group(1), _read_member(sbd, tar, m)
                continue
            hit = _SBD_LIST.search(name)
            if m.isfile() and hit:
                yield 'list', hit.group(1), _read_member(sbd, tar, m)


def check_official(name: str, got: int, full: bool) -> str:
    """``'name: N'`` with the official count; ``ValueError`` when ``full`` and they differ."""
    want = OFFICIAL[name]
    if got == want:
        return f'{name}: {got} (official {want}: ok)'
    if full:
        raise ValueError(f'{name}: {got}, but the full releases give {want}; an archive is damaged or '
                         'incomplete (check its checksum, docs/datasets.md)')
    return f'{name}: {got} (official {want}; not the full release, count not checked)'


def convert(voc: Path, sbd: Path, out_dir: Path) -> Dict[str, int]:
    """Make ``SegmentationClassAug`` and ``train_aug.txt``; returns the counts (also printed)."""
    from mmdoei.utils.files import check_files_exist, label_png_bytes, read_label_png
    from mmdoei.utils.io import atomic_write
    from mmdoei.utils.locks import folder_lock

    for path, what in ((voc, 'VOC 2012 (VOCtrainval_11-May-2012.tar or VOCdevkit)'),
                       (sbd, 'SBD (benchmark.tgz or benchmark_RELEASE)')):
        if not path.exists():
            raise FileNotFoundError(f'{path} does not exist; expected {what}')
    root = extract_voc(voc, out_dir) if voc.is_file() else find_voc_root(voc)
    sets = root / 'ImageSets' / 'Segmentation'
    aug_dir = root / 'SegmentationClassAug'
    with folder_lock(root, 'VOC 2012 folder (voc_aug.py)'):
        voc_lists = {s: parse_ids((sets / f'{s}.txt').read_text(), str(sets / f'{s}.txt')) for s in ('train', 'val')}
        # VOC's own masks first: finer (with the 255 boundary band) and they win over SBD's.
        voc_masks: Set[str] = set()
        for png in sorted((root / 'SegmentationClass').glob('*.png')):
            dst = aug_dir / png.name
            voc_masks.add(png.stem)
            if dst.is_file():
                continue
            values = np.unique(read_label_png(str(png)))
            bad = values[(values > NUM_CLASSES) & (values != 255)]
            if bad.size:
                raise ValueError(f'{png}: mask values {bad.tolist()[:5]} are not VOC classes (0..20, 255)')
            with atomic_write(dst) as f:
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
            label = sbd_label(data, f'{sbd}: cls/{name}.mat')
            with atomic_write(dst) as f:
                f.write(label_png_bytes(label))
            written += 1
        for split in ('train', 'val'):
            if split not in sbd_lists:
                raise ValueError(f'{sbd}: no dataset/{split}.txt; is this SBD\'s benchmark.tgz?')
        val = set(voc_lists['val'])
        aug = sorted((set(sbd_lists['train']) | set(sbd_lists['val']) | set(voc_lists['train'])) - val)
        check_files_exist({'images': [str(root / 'JPEGImages' / f'{i}.jpg') for i in aug],
                           'masks': [str(aug_dir / f'{i}.png') for i in aug]}, 'the train_aug list')
        check_files_exist({'masks': [str(aug_dir / f'{i}.png') for i in voc_lists['val']]},
                          f'{sets / "val.txt"}')
        with atomic_write(sets / 'train_aug.txt', 'w') as f:
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
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere, like the other tools
    try:
        convert(args.voc, args.sbd, args.out_dir)
    except (ValueError, OSError, tarfile.TarError) as e:
        print(f'[voc_aug] error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
