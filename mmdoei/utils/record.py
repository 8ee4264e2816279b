"""What made an output folder: ``{folder}/.mmdoei-record.json``.

A CAM or pseudo-mask folder resumes: a rerun skips every image whose file
exists. That is only right if the files there were made by the same thing
(checkpoint, model settings, protocol, image list). Each folder therefore
keeps a record of those inputs and their fingerprint (sha256 of the
canonical JSON), and every run *claims* the folder before computing
(:func:`claim`): same record, resume; another record, or outputs without a
record (an older mmdoei, or files put there by hand), and the run stops with
the differing fields and the flag that overwrites.

The record is a generic ``(kind, fields)`` pair so that other steps (the
pipeline's stages, the demo's and the sweep's runs, the generated data sets:
:mod:`mmdoei.apis.steps`) use it too; a kind only adds which files it writes
(:data:`KINDS`), which ``overwrite`` deletes. A step's record also keeps its
``results`` once it has finished (not part of the fingerprint), and may live
in a file of another name (``record_file``) when its folder already holds the
record of another kind.

Callers hold the folder's lock (:func:`mmdoei.utils.locks.folder_lock`)
around :func:`claim` and the whole run, so nobody else writes meanwhile.
"""
import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .io import atomic_write

PathLike = Union[str, os.PathLike]

#: The record's file name in its folder (hidden: not an output of the folder's kind).
RECORD_FILE = '.mmdoei-record.json'
#: Version of the record file's layout.
RECORD_FORMAT = 1
#: A record holds a config's values and a step's results: kilobytes. A larger file is refused before it is read
#: (an 8 GB file must not end in a bare MemoryError).
MAX_RECORD_BYTES = 4 * 2**20


class RecordError(ValueError):
    """A record file that cannot be used (corrupt, too large, lacking what its step needs); names the file."""


class OutputConflict(RecordError):
    """A folder's outputs cannot be reused, resumed or deleted as asked; the message names it and what to do.

    The tools catch it and exit with status 2 and the message (no traceback): it is the user's folder, not a bug.
    """


class OutputKind:
    """What a kind of output folder holds.

    Args:
        what: Its name in messages (``'CAM folder'``).
        files: Glob patterns of the output files it writes, relative to the folder (``stage1/epoch_*.pth``):
            narrow, since ``overwrite`` deletes every file they match and nothing else.
        dirs: Sub-folders it writes, or glob patterns of them (``stage1/20??????_??????``: a run's log
            folder), removed whole by ``overwrite``.
        overwrite_hint: How a user overwrites (the tools' flag, the API's argument).
    """

    def __init__(self, what: str, files: Sequence[str], dirs: Sequence[str], overwrite_hint: str) -> None:
        self.what = what
        self.files = tuple(files)
        self.dirs = tuple(dirs)
        self.overwrite_hint = overwrite_hint


#: The kinds of output folders that keep a record.
KINDS: Dict[str, OutputKind] = {
    'cams': OutputKind('CAM folder', ('*.npz', ), ('overlays', 'seed_eval'),
                       'rerun tools/test.py --cam-out with --overwrite (overwrite=True in the API)'),
    'pseudo_masks': OutputKind('pseudo-mask folder', ('*.png', ), (),
                               'rerun tools/psa_infer.py with --overwrite (overwrite=True in the API)'),
    # tools/dataset_converters: VOC2012's folder when voc_aug.py made it from the tar (everything it
    # extracted, and its own outputs), or was given the extracted folder (only its own outputs).
    'voc_aug_archive': OutputKind('VOC 2012 folder', ('ImageSets/Segmentation/train_aug.txt', ),
                                  ('Annotations', 'ImageSets', 'JPEGImages', 'SegmentationClass',
                                   'SegmentationObject', 'SegmentationClassAug'),
                                  'rerun tools/dataset_converters/voc_aug.py with --overwrite'),
    'voc_aug': OutputKind('VOC 2012 folder', ('ImageSets/Segmentation/train_aug.txt', ), ('SegmentationClassAug', ),
                          'rerun tools/dataset_converters/voc_aug.py with --overwrite'),
    'coco_masks': OutputKind('COCO mask folder', ('*.png', ), (),
                             'rerun tools/dataset_converters/coco_wsss.py with --overwrite'),
}


def _canonical(value) -> str:
    """Canonical JSON: sorted keys, no spaces; tuples as lists; anything else JSON cannot hold as its ``str``."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=True, default=str)


def sha256_text(items: Sequence[str]) -> str:
    """sha256 of ``items`` joined by newlines (e.g. an ordered image-id list)."""
    return hashlib.sha256('\n'.join(items).encode()).hexdigest()


class OutputRecord:
    """The inputs that make a folder's outputs.

    Args:
        kind: A key of :data:`KINDS`.
        fields: JSON-able description of the inputs (nested dicts allowed);
            stored in its canonical JSON form, so tuples compare equal to lists.
        notes: Shown next to a differing top-level field of the same name but
            not part of the fingerprint (e.g. the checkpoint's path beside its
            hash: a moved file is the same checkpoint).
        results: What a finished step handed back (None: not finished, or a
            folder whose outputs say for themselves how far they got); not
            part of the fingerprint.
    """

    def __init__(self, kind: str, fields: dict, notes: Optional[dict] = None,
                 results: Optional[dict] = None) -> None:
        if kind not in KINDS:
            raise ValueError(f'unknown output kind {kind!r}; known: {sorted(KINDS)}')
        self.kind = kind
        self.fields = json.loads(_canonical(dict(fields)))
        self.notes = json.loads(_canonical(dict(notes or {})))
        self.results = None if results is None else json.loads(_canonical(dict(results)))

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of ``kind`` and ``fields``."""
        return hashlib.sha256(_canonical(dict(kind=self.kind, fields=self.fields)).encode()).hexdigest()

    def to_dict(self) -> dict:
        """What the record file holds."""
        data = dict(format=RECORD_FORMAT, kind=self.kind, fingerprint=self.fingerprint, fields=self.fields,
                    notes=self.notes)
        if self.results is not None:  # only steps that finish keep results: older records stay byte for byte
            data['results'] = self.results
        return data

    def differences(self, new: 'OutputRecord', width: int = 70) -> List[str]:
        """``field: old -> new`` for every leaf that differs (dotted paths; values truncated to ``width``)."""
        def short(v) -> str:
            text = '(missing)' if v is _MISSING else _canonical(v)
            return text if len(text) <= width else text[:width - 3] + '...'

        out = []
        if self.kind != new.kind:
            out.append(f'kind: {self.kind} -> {new.kind}')
        for path, old, now in _diff(self.fields, new.fields):
            line = f'{path}: {short(old)} -> {short(now)}'
            top = path.split('.')[0]
            if top in self.notes or top in new.notes:
                line += f' (was {self.notes.get(top, "?")}, now {new.notes.get(top, "?")})'
            out.append(line)
        return out


_MISSING = object()


def _diff(a, b, prefix: str = '') -> List[Tuple[str, object, object]]:
    """The differing leaves of two JSON values, as ``(dotted path, old, new)``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            path = f'{prefix}.{key}' if prefix else str(key)
            out += _diff(a.get(key, _MISSING), b.get(key, _MISSING), path)
        return out
    return [] if a == b else [(prefix or '(all)', a, b)]


def read_record(folder: PathLike, record_file: str = RECORD_FILE) -> Optional[OutputRecord]:
    """The record of ``folder`` (in ``record_file``, relative to it), or None if it has none.

    Raises:
        RecordError: naming the file when it is not a record (corrupt, another layout, larger than
            :data:`MAX_RECORD_BYTES`, checked before reading it).
    """
    path = Path(folder) / record_file
    try:
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            raise ValueError(f'{size} bytes, more than a record holds ({MAX_RECORD_BYTES}); not read')
        data = json.loads(path.read_text())
        if data.get('format') != RECORD_FORMAT:
            raise ValueError(f'format {data.get("format")!r}, expected {RECORD_FORMAT}')
        record = OutputRecord(data['kind'], data['fields'], data.get('notes'), data.get('results'))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise RecordError(f'{path}: not a readable mmdoei output record ({type(e).__name__}: {e}); '
                          'delete it, and the outputs it described, to start this folder again') from e
    return record


def write_record(folder: PathLike, record: OutputRecord, record_file: str = RECORD_FILE) -> Path:
    """Write ``record`` into ``folder`` (as ``record_file``) atomically; returns the file."""
    path = Path(folder) / record_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, 'w') as f:
        json.dump(record.to_dict(), f, indent=1, sort_keys=True)
    return path


def outputs_of(folder: PathLike, kind: str) -> List[Path]:
    """The outputs of ``kind`` in ``folder`` (files of its patterns, its sub-folders, or folders of its
    patterns, that exist)."""
    folder = Path(folder)
    spec = KINDS[kind]
    found = [p for pattern in spec.files for p in sorted(folder.glob(pattern)) if p.is_file()]
    return found + [p for pattern in spec.dirs for p in sorted(folder.glob(pattern)) if p.is_dir()]


def remove_stale_temporaries(folder: PathLike, kind: str) -> List[Path]:
    """Remove the temporary files :func:`~mmdoei.utils.io.atomic_write` left in
    ``folder`` (and the kind's sub-folders) when a run was killed.

    Only safe while holding the folder's lock: then no other run is writing, so
    every temporary file there belongs to a dead run.
    """
    folder = Path(folder)
    stale = [p for p in folder.glob('.*.tmp') if p.is_file()]
    for d in KINDS[kind].dirs:
        stale += [p for p in folder.glob(f'{d}/.*.tmp') if p.is_file()]
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale


def outputs_text(folder: PathLike, outputs: Sequence[PathLike], limit: int = 3) -> str:
    """The first ``limit`` of ``outputs``, relative to ``folder``, and how many more: for refusals."""
    names = [str(Path(o).relative_to(folder)) for o in outputs[:limit]]
    return ', '.join(names) + (f' and {len(outputs) - limit} more' if len(outputs) > limit else '')


def differences_text(diffs: Sequence[str], limit: int = 12) -> str:
    """``old -> new`` lines, one per field (the first ``limit``, and how many more): for refusals."""
    return '\n  ' + '\n  '.join(diffs[:limit]) + (f'\n  ... and {len(diffs) - limit} more' if len(diffs) > limit
                                                  else '')


def claim(folder: PathLike, record: OutputRecord, overwrite: bool = False, record_file: str = RECORD_FILE) -> str:
    """Make ``folder`` the output folder of ``record``'s inputs, before computing.

    * the same record: nothing changes, the run resumes (``'resume'``);
    * no outputs (whatever the record): the record is written (``'new'``);
    * another record, or outputs without a record: refused;
    * ``overwrite`` (whatever the record): the old record and the outputs of
      ``record.kind`` (only those: :data:`KINDS`) are deleted and the new
      record written, all before any output is (``'overwritten'``). The old
      record goes first, so a kill during the deletion leaves outputs without
      a record, which the next run refuses again rather than resumes.

    The caller holds the folder's lock (:func:`~mmdoei.utils.locks.folder_lock`).
    ``record_file`` is where the record is kept (relative to ``folder``).

    Returns:
        ``'new'``, ``'resume'`` or ``'overwritten'``.

    Raises:
        OutputConflict: naming the folder, listing the differing fields (old ->
            new) and how to overwrite; or, with ``overwrite``, naming an
            output reached through a symbolic link (nothing deleted).
    """
    folder = Path(folder)
    spec = KINDS[record.kind]
    folder.mkdir(parents=True, exist_ok=True)
    old = read_record(folder, record_file)
    if old is not None and old.fingerprint == record.fingerprint and not overwrite:
        return 'resume'
    outputs = outputs_of(folder, record.kind)
    if not outputs:  # nothing there to reuse or to lose (a record alone describes nothing)
        write_record(folder, record, record_file)
        return 'new'
    if not overwrite:
        if old is None:
            why = (f'holds outputs ({outputs_text(folder, outputs)}) but no {record_file} saying what made them '
                   '(an older mmdoei, or files put there by hand), so they cannot be trusted to match this run')
        else:
            diffs = old.differences(record)
            why = 'holds outputs made with other settings (old -> new):' + differences_text(diffs)
        raise OutputConflict(f'{spec.what} {folder} {why}\nNothing was reused or changed. Write elsewhere, or '
                             f'{spec.overwrite_hint} to delete its outputs and start again.')
    discard(folder, record.kind, record_file)
    write_record(folder, record, record_file)
    return 'overwritten'


def check_discard(folder: PathLike, kind: str) -> List[Path]:
    """The outputs of ``kind`` in ``folder`` that :func:`discard` would delete, refusing first any reached
    through a symbolic link (a stage folder linked elsewhere): deleting through it would delete the link
    target's files, and ``shutil.rmtree`` stops half-way on a linked folder.

    Raises:
        OutputConflict: naming the symbolic link and its target; nothing was deleted.
    """
    folder = Path(folder)
    outputs = outputs_of(folder, kind)
    for path in outputs:
        rel = path.relative_to(folder)
        link = next((folder / p for p in [rel, *rel.parents][:-1] if (folder / p).is_symlink()), None)
        if link is not None:
            raise OutputConflict(
                f'{KINDS[kind].what} {folder}: {link} is a symbolic link (to {os.readlink(link)}), and its outputs '
                'are not deleted through it. Nothing was deleted: replace the link by a folder (or write '
                'elsewhere) and rerun.')
    return outputs


def discard(folder: PathLike, kind: str, record_file: str = RECORD_FILE) -> None:
    """Delete ``folder``'s record, then its outputs of ``kind`` (nothing else).

    Every output is checked before anything is deleted (:func:`check_discard`:
    none reached through a symbolic link). The record goes first: a kill in
    between leaves outputs without a record, which :func:`claim` refuses
    rather than resumes.

    Raises:
        OutputConflict: naming a symbolic link on the way to an output; nothing was deleted.
    """
    folder = Path(folder)
    outputs = check_discard(folder, kind)
    with contextlib.suppress(FileNotFoundError):
        (folder / record_file).unlink()
    for path in outputs:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def file_sha256(path: Optional[str]) -> Optional[str]:
    """The sha256 of the checkpoint a run loads: a local file's, an ``http(s)://``
    URL's cached copy's (the file actually loaded), else the name itself (e.g.
    ``open-mmlab://``, whose file mmengine keeps elsewhere); None stays None.
    """
    if path is None:
        return None
    from .download import fetch_checkpoint, sha256_of
    if os.path.isfile(path):
        return sha256_of(path)
    if str(path).startswith(('http://', 'https://')):
        return sha256_of(fetch_checkpoint(str(path), download=False))
    return f'unhashed: {path}'
