"""One way to run a step and know it is done: inputs, a config, outputs and a record.

A step (train a classifier, write CAMs, score seeds, write a data set, ...)
writes into a folder. Whether a rerun may skip it, resume it or must redo it
depends on what made the outputs there, so every step keeps a record
(:class:`mmdoei.utils.record.OutputRecord`, the format CAM and pseudo-mask
folders already use) whose fingerprint covers:

* the config values that decide the output (:func:`config_values`: paths of
  work and log folders, run names and logging are left out),
* the sha256 of every input file, checkpoints above all (:func:`input_sha256`),
* the sha256 of every image list (:func:`list_sha256`: the ordered ids),
* the fingerprints of the steps it reads from, and mmdoei's version.

A run then

* skips the step when the record is finished with the same fingerprint,
* resumes it when the record has the same fingerprint but no results (a
  killed run: the step's own code continues where it stopped),
* starts it in an empty folder,
* refuses a folder holding outputs of another fingerprint (or outputs with
  no record), naming the folder, the differing fields and how to overwrite
  (:func:`mmdoei.utils.record.claim`); with ``overwrite`` those outputs are
  deleted first and the step redone.

The record is written before the step starts (so a killed run's outputs are
known to be this fingerprint's) and again, atomically and with the step's
results, after it finished: a step without results is unfinished.

The pipeline (:mod:`mmdoei.apis.pipeline`), the demo, the sweep, the
procedural pretraining set and the synthetic data sets all go through this
module. A pretrained backbone is one file, not a folder: its record is the
``pretrain_stamp`` in its own meta (the fingerprint of its config values),
written atomically with it and checked before a cached file is reused
(:func:`mmdoei.apis.pretrain.pretrain_backbone`).
"""
import os
import os.path as osp
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

from mmdoei.utils.locks import folder_lock
from mmdoei.utils.record import (KINDS, RECORD_FILE, OutputKind, OutputRecord, claim, discard, outputs_of, read_record,
                                 sha256_text, write_record)
from mmdoei.version import __version__

PathLike = Union[str, os.PathLike]

#: Config keys that never decide a step's output: where it logs and writes, what the run is called,
#: how it is launched and whether it resumes (the step record, not the config, decides that).
IGNORED_CONFIG_KEYS = ('work_dir', 'experiment_name', 'launcher', 'resume', 'load_from', 'log_level',
                       'log_processor', 'visualizer', 'vis_backends', 'filename')


def register_step_kind(kind: str, what: str, files: Sequence[str] = (), dirs: Sequence[str] = (),
                       overwrite_hint: str = 'rerun with --overwrite (overwrite=True in the API)') -> str:
    """Add a step's kind of output folder to :data:`mmdoei.utils.record.KINDS`; returns ``kind``.

    ``files`` (globs) and ``dirs`` are the outputs a step writes in its folder:
    what makes the folder "hold outputs" and what ``overwrite`` deletes. Done
    once at import by the module that owns the step; registering a kind again
    with other outputs is refused, since two steps would then delete each
    other's files.
    """
    spec = OutputKind(what, files, dirs, overwrite_hint)
    old = KINDS.get(kind)
    if old is not None and (old.files, old.dirs) != (spec.files, spec.dirs):
        raise ValueError(f'output kind {kind!r} is already registered with other outputs '
                         f'({old.files}, {old.dirs})')
    KINDS[kind] = spec
    return kind


def config_values(cfg, ignore: Sequence[str] = IGNORED_CONFIG_KEYS) -> dict:
    """The values of ``cfg`` (an mmengine ``Config`` or a dict) that decide a step's output, as plain JSON data.

    Top-level keys of ``ignore`` are dropped: paths of logs, run names and the
    like change from run to run without changing a number.
    """
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    return {k: v for k, v in data.items() if k not in ignore}


def input_sha256(path: Optional[PathLike]) -> Optional[str]:
    """The sha256 of an input file; for anything else (a URL, a name mmengine resolves, a file not there yet)
    the name itself, marked ``unhashed:``, so that a changed name still changes the fingerprint."""
    if path is None:
        return None
    if osp.isfile(path):
        from mmdoei.utils.download import sha256_of
        return sha256_of(str(path))
    return f'unhashed: {path}'


def list_sha256(path: PathLike) -> str:
    """The sha256 of an image list's ordered ids (:func:`mmdoei.utils.files.read_split`: the PSA form and the
    plain form of one list hash alike).

    Raises:
        FileNotFoundError, ValueError: naming the list file (as read_split does).
    """
    from mmdoei.utils.files import read_split
    return sha256_text(read_split(str(path)))


def step_fields(config=None, files: Optional[Mapping[str, Optional[PathLike]]] = None,
                lists: Optional[Mapping[str, PathLike]] = None,
                steps: Optional[Mapping[str, Optional[str]]] = None, **values) -> Dict[str, dict]:
    """The fingerprinted fields and the notes of a step's record: ``(fields, notes)``.

    Args:
        config: The step's config (``Config`` or dict), reduced by :func:`config_values`.
        files: Input files by role (``checkpoint``, ``pretrained``, ...): their sha256.
        lists: Image lists by role (``train``, ``cams``, ...): the sha256 of their ids.
        steps: The fingerprints of the steps whose outputs this one reads.
        values: Further values that decide the output (e.g. a generator's arguments).

    Returns:
        ``dict(fields=..., notes=...)``: the notes keep the files' and lists'
        paths beside their hashes (shown when a hash differs; a moved file is
        the same input).
    """
    files, lists = dict(files or {}), dict(lists or {})
    fields = dict(code=__version__)
    if config is not None:
        fields['config'] = config_values(config)
    if files:
        fields['files'] = {k: input_sha256(v) for k, v in files.items()}
    if lists:
        fields['lists'] = {k: list_sha256(v) for k, v in lists.items()}
    if steps:
        fields['steps'] = dict(steps)
    fields.update(values)
    notes = {}
    if files:
        notes['files'] = {k: None if v is None else str(v) for k, v in files.items()}
    if lists:
        notes['lists'] = {k: str(v) for k, v in lists.items()}
    return dict(fields=fields, notes=notes)


class Step:
    """One step's record in its folder: what decides it, whether it is done, and running it.

    Args:
        kind: Its kind of output folder (:func:`register_step_kind`).
        folder: Where it writes.
        fields: What decides its outputs (e.g. ``step_fields(...)['fields']``).
        notes: Shown beside differing fields, not fingerprinted.
        record_file: The record's file, relative to ``folder`` (default the
            folder's own record; another name where the folder already keeps
            the record of another kind, e.g. a CAM folder).
    """

    def __init__(self, kind: str, folder: PathLike, fields: dict, notes: Optional[dict] = None,
                 record_file: str = RECORD_FILE) -> None:
        self.folder = Path(folder)
        self.record = OutputRecord(kind, fields, notes)
        self.record_file = record_file

    @classmethod
    def of(cls, kind: str, folder: PathLike, config=None, files=None, lists=None, steps=None,
           record_file: str = RECORD_FILE, **values) -> 'Step':
        """A step whose fields are :func:`step_fields` of these inputs."""
        made = step_fields(config, files, lists, steps, **values)
        return cls(kind, folder, made['fields'], made['notes'], record_file)

    @property
    def fingerprint(self) -> str:
        """The sha256 of the step's kind and fields."""
        return self.record.fingerprint

    def previous(self) -> Optional[OutputRecord]:
        """The record the folder holds (None without one)."""
        return read_record(self.folder, self.record_file)

    def status(self) -> str:
        """``'done'`` (finished, same fingerprint), ``'resume'`` (same fingerprint, unfinished), ``'new'`` (no
        outputs) or ``'changed'`` (outputs of another fingerprint, or without a record)."""
        old = self.previous()
        if old is not None and old.fingerprint == self.fingerprint:
            return 'done' if old.results is not None else 'resume'
        return 'changed' if outputs_of(self.folder, self.record.kind) else 'new'

    def results(self) -> Optional[dict]:
        """The results of the finished step with this fingerprint, else None."""
        old = self.previous()
        return old.results if old is not None and old.fingerprint == self.fingerprint else None

    def start(self, overwrite: bool = False) -> str:
        """Claim the folder before computing (:func:`mmdoei.utils.record.claim`): ``'new'``, ``'resume'`` or
        ``'overwritten'``; an unfinished record is written.

        Raises:
            ValueError: the folder holds outputs of another fingerprint (and not ``overwrite``): the message
                names the folder, the differing fields and how to overwrite.
        """
        self.record.results = None
        return claim(self.folder, self.record, overwrite=overwrite, record_file=self.record_file)

    def finish(self, results: Optional[dict] = None) -> dict:
        """Record the step as finished with ``results`` (written atomically, after its outputs); returns them."""
        self.record.results = dict(results or {})
        write_record(self.folder, self.record, self.record_file)
        return self.record.results

    def reset(self) -> None:
        """Delete the record and the outputs (the step will run anew)."""
        discard(self.folder, self.record.kind, self.record_file)

    def run(self, fn: Callable[[], Optional[dict]], overwrite: bool = False, lock: bool = True,
            timeout: Optional[float] = 0.0) -> dict:
        """Run ``fn`` unless the step is done; returns its results (the recorded ones when skipped).

        ``overwrite`` deletes outputs of other inputs (see :meth:`start`); a
        step done with these inputs is skipped all the same. ``fn`` writes
        the outputs into the folder (resuming what a killed run left, if it
        can) and returns JSON-able results. With ``lock`` the
        folder's lock (:func:`mmdoei.utils.locks.folder_lock`) is held
        throughout, so two runs never write one folder.
        """
        def go() -> dict:
            status = self.status()
            if status == 'done':
                return self.results()
            self.start(overwrite and status == 'changed')
            return self.finish(fn())

        if not lock:
            return go()
        self.folder.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.folder, KINDS[self.record.kind].what, timeout=timeout):
            return go()
