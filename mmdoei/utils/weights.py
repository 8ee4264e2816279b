"""Checkpoints: one safe loading path (:func:`register_safe_loaders`) and a strict fit (:func:`load_weights`).

**Loading.** :func:`register_safe_loaders` (called when :mod:`mmdoei.utils` is
imported) replaces every ``torch.load`` route of mmengine's
``CheckpointLoader`` (``mmengine/runner/checkpoint.py``: ``load_from_local``,
``load_from_pavi``, ``load_from_ceph``, the local-file branch of
``load_from_openmmlab``) by one that passes ``weights_only=True`` explicitly
with mmengine's allow-list applied for that one load
(:func:`mmdoei.utils.download.safe_torch_load`, which also serves
``http(s)://`` and, through mmengine's calls of ``load_from_http``,
``torchvision://`` and ``mmcls://``). So ``init_model``, ``get_model``,
``CAMInferencer``, a hand-built Runner's ``load_from``/``resume`` and
``CheckpointLoader.load_checkpoint`` depend neither on torch's default nor on
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` nor on the torch version, and need no
:func:`mmdoei.utils.setup_env`. A file that is not a checkpoint gets a
``ValueError`` naming it and the reason, without torch's advice to unpickle
fully.

**Fit.** mmengine's ``load_checkpoint`` and the Runner's ``load_from`` load with
``strict=False``: a checkpoint of another model (other keys, other shapes)
only prints a warning and the model keeps its random initialisation, so a
wrong file is scored as if it were right. Here the checkpoint's state dict
(``checkpoint['state_dict']`` or the mapping itself, ``module.`` prefixes
stripped as mmengine does, after the zoo's converters, which the http(s)
loader applies) is compared with the model's before anything is loaded, and a
mismatch is refused unless the caller asks for a partial load (``partial=True``
in the API, ``--partial-load`` in the tools).

Not compared: BatchNorm's ``num_batches_tracked`` when the checkpoint lacks it
(mmengine ignores it too: older releases did not save it, and it does not
change inference). Everything else a model saves (parameters and persistent
buffers) must be there with its shape: checkpoints the Runner wrote after one
epoch on the synthetic set fit exactly for MCTformer-V2 (with and without
DOEI), TS-CAM, TransCAM, AffinityNet and DeepLab (measured on the configs of
``configs/demo``, ``configs/psa`` and ``configs/deeplab`` at tiny scale).

Backbone ``init_cfg=dict(type='Pretrained', ...)`` is not affected: an
initialisation keeps mmengine's partial-load semantics.
"""
import io
import logging
import os
import os.path as osp
import re
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import IO, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from .download import safe_torch_load, torch_reason


def _reason(error: BaseException) -> str:
    """``'Type: reason'`` of the torch error behind ``error``, without its advice to unpickle fully."""
    cause = error
    while cause.__cause__ is not None:  # UnsafeCheckpointError wraps torch's UnpicklingError
        cause = cause.__cause__
    return torch_reason(cause)


def safe_load(file: Union[str, os.PathLike, IO[bytes]], map_location=None, name: Optional[str] = None) -> object:
    """``torch.load(file, weights_only=True)`` with mmengine's checkpoint globals allowed for this load only.

    ``weights_only=True`` is passed explicitly: in torch 2.14.1's
    ``torch/serialization.py`` (``load``), ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
    turns full unpickling on only ``if weights_only_not_set`` ("can only
    override if callsite did not explicitly set weights_only"), and an older
    torch's default (``False`` before 2.6) applies only when it is not passed,
    so neither changes what happens here.

    Args:
        file: A path or a binary file object.
        map_location: As for ``torch.load``.
        name: What errors call the file (a URL, an ``s3://`` path); by default the path.

    Raises:
        ValueError: naming the file and what torch found wrong when it is not a
            checkpoint, is truncated, or pickles objects other than tensors and
            mmengine's (never retried with full unpickling, never advising it).
    """
    name = name or str(file)
    try:
        return safe_torch_load(file, map_location=map_location, source=name)
    except Exception as e:  # anything torch raises for a bad file: re-raised with the file named
        raise ValueError(f'{name}: cannot load as a checkpoint ({_reason(e)}); mmdoei '
                         'loads checkpoints with weights_only=True and never unpickles fully (that would run '
                         'code from the file), so a file that is not a torch checkpoint, is truncated, or '
                         'pickles other objects is refused') from e


def load_from_local(filename: str, map_location=None) -> object:
    """mmengine's local checkpoint loader, through :func:`safe_load`.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file and what torch found wrong, when it is
            not a checkpoint (never retried with full unpickling).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location=map_location)


def load_from_pavi(filename: str, map_location=None) -> object:
    """mmengine's ``pavi://`` loader (download to a temporary folder), through :func:`safe_load`."""
    if not filename.startswith('pavi://'):
        raise ValueError(f'{filename}: a pavi checkpoint path starts with pavi://')
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(f'{filename}: install pavi to load checkpoints from its modelcloud') from None
    model = modelcloud.get(filename[len('pavi://'):])
    with tempfile.TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return safe_load(downloaded, map_location=map_location, name=filename)


def load_from_ceph(filename: str, map_location=None, backend: str = 'petrel') -> object:
    """mmengine's ``s3://``/``petrel://`` loader (read through the file backend), through :func:`safe_load`."""
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_load(buffer, map_location=map_location, name=filename)


def load_from_openmmlab(filename: str, map_location=None) -> object:
    """mmengine's ``open-mmlab://`` loader: a URL goes to the (safe) http loader, a
    file under ``$MMENGINE_HOME`` through :func:`load_from_local`."""
    import mmengine.runner.checkpoint as mm_ckpt
    from mmengine.logging import print_log
    prefix = 'open-mmlab://' if filename.startswith('open-mmlab://') else 'openmmlab://'
    model_name = filename[len(prefix):]
    deprecated = mm_ckpt.get_deprecated_model_names()
    if model_name in deprecated:
        print_log(f'{prefix}{model_name} is deprecated in favor of {prefix}{deprecated[model_name]}',
                  logger='current', level=logging.WARNING)
        model_name = deprecated[model_name]
    model_urls = mm_ckpt.get_external_models()
    if model_name not in model_urls:
        raise KeyError(f'{filename}: no model named {model_name!r} in mmengine\'s open-mmlab list')
    model_url = model_urls[model_name]
    if model_url.startswith(('http://', 'https://')):
        return mm_ckpt.load_from_http(model_url, map_location=map_location)
    return load_from_local(osp.join(mm_ckpt._get_mmengine_home(), model_url), map_location=map_location)


#: mmengine's scheme prefixes -> the loaders above (``http(s)://`` is :mod:`mmdoei.utils.download`'s).
SAFE_LOADERS = {
    '': load_from_local,
    'pavi://': load_from_pavi,
    r'(\S+\:)?s3://': load_from_ceph,
    r'(\S+\:)?petrel://': load_from_ceph,
    'open-mmlab://': load_from_openmmlab,
    'openmmlab://': load_from_openmmlab,
}


def register_safe_loaders() -> None:
    """Make the loaders above mmengine's for their schemes (and rebind its module functions). Idempotent.

    Called when :mod:`mmdoei.utils` is imported. ``torchvision://``/``modelzoo://``
    and ``mmcls://`` need nothing here: mmengine's loaders for them call
    ``load_from_http`` by its module name, which :mod:`mmdoei.utils.download` rebinds.
    """
    import mmengine.runner.checkpoint as mm_ckpt
    for prefix, loader in SAFE_LOADERS.items():
        mm_ckpt.CheckpointLoader.register_scheme(prefixes=prefix, loader=loader, force=True)
    for loader in set(SAFE_LOADERS.values()):
        setattr(mm_ckpt, loader.__name__, loader)


#: Keys a checkpoint may lack (mmengine's ``load_state_dict`` ignores them too).
IGNORED_MISSING = re.compile(r'(^|\.)num_batches_tracked$')


@dataclass
class FitReport:
    """How a state dict fits a model: keys missing from it, keys the model does not have, shape mismatches."""

    num_model_keys: int
    num_checkpoint_keys: int
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    #: Model keys absent from the checkpoint but not counted as missing (:data:`IGNORED_MISSING`).
    ignored: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every tensor of the model is in the state dict with its shape and nothing else is."""
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def num_matching(self) -> int:
        """Tensors that would be loaded (a BN counter the checkpoint lacks is not one)."""
        return self.num_model_keys - len(self.missing) - len(self.mismatched) - len(self.ignored)

    def describe(self, examples: int = 3) -> str:
        """What differs, e.g. ``'1 of the model's 40 tensors missing (e.g. a); 1 unexpected (e.g. b);
        1 mis-shaped (e.g. c: checkpoint (3, 4), model (3, 8))'``, at most ``examples`` keys each."""
        def few(keys: List[str]) -> str:
            more = ', ...' if len(keys) > examples else ''
            return ', '.join(keys[:examples]) + more

        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} of the model\'s {self.num_model_keys} tensors missing '
                         f'(e.g. {few(self.missing)})')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} unexpected (e.g. {few(self.unexpected)})')
        if self.mismatched:
            shapes = [f'{k}: checkpoint {tuple(a)}, model {tuple(b)}' for k, a, b in self.mismatched]
            parts.append(f'{len(self.mismatched)} mis-shaped (e.g. {few(shapes)})')
        return '; '.join(parts) if parts else 'fits exactly'


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside mmengine's model wrappers (DDP...) and TTA models, as mmengine loads into it."""
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def checkpoint_state_dict(checkpoint: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """The state dict mmengine would load: ``checkpoint['state_dict']`` (else the mapping), ``module.`` stripped."""
    state = checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint
    if not isinstance(state, Mapping):
        raise TypeError(f"checkpoint['state_dict'] is a {type(state).__name__}, not a mapping of tensors")
    out = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())
    out._metadata = getattr(state, '_metadata', OrderedDict())  # versions for _load_from_state_dict
    return out


def fit_report(model: nn.Module, state_dict: Mapping) -> FitReport:
    """Compare ``state_dict`` (already unwrapped, see :func:`checkpoint_state_dict`) with ``model``'s."""
    expected = unwrap_model(model).state_dict()
    report = FitReport(num_model_keys=len(expected), num_checkpoint_keys=len(state_dict))
    for key, value in expected.items():
        if key not in state_dict:
            (report.ignored if IGNORED_MISSING.search(key) else report.missing).append(key)
            continue
        got = state_dict[key]
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else None
        if shape != tuple(value.shape):
            report.mismatched.append((key, shape if shape is not None else (type(got).__name__, ),
                                      tuple(value.shape)))
    report.unexpected = [k for k in state_dict if k not in expected]
    return report


def read_checkpoint(checkpoint: Union[str, Mapping], map_location: str = 'cpu') -> Tuple[dict, str]:
    """``(checkpoint dict, its name for messages)`` from a path, URL or an already loaded dict.

    A path or URL loads through mmengine's ``CheckpointLoader``, i.e. through
    mmdoei's safe loaders (``weights_only=True``; zoo URLs converted).
    """
    if isinstance(checkpoint, Mapping):
        return dict(checkpoint), 'the given checkpoint dict'
    from mmengine.runner.checkpoint import CheckpointLoader
    name = str(checkpoint)
    ckpt = CheckpointLoader.load_checkpoint(name, map_location=map_location, logger='current')
    if not isinstance(ckpt, Mapping):
        raise ValueError(f'{name}: not a checkpoint (a {type(ckpt).__name__}, not a dict of tensors)')
    return dict(ckpt), name


def check_fit(model: nn.Module, checkpoint: Union[str, Mapping], partial: bool = False,
              flag: str = 'partial=True', map_location: str = 'cpu') -> Tuple[dict, FitReport]:
    """Load ``checkpoint`` (not into the model) and refuse it unless it fits ``model`` or ``partial``.

    Args:
        model: The model (mmengine wrappers are looked through).
        checkpoint: A path, a URL or a loaded checkpoint dict.
        partial: Accept a checkpoint that does not fit (a warning lists what differs).
        flag: How the caller's user asks for a partial load, named in the error
            (``'--partial-load'`` for the tools).
        map_location: As for ``torch.load``.

    Returns:
        The loaded checkpoint and the report.

    Raises:
        ValueError: naming the checkpoint, the model class, the counts and the
            first few keys of what is missing, unexpected or mis-shaped, and ``flag``;
            with ``partial`` too when not one tensor fits (a partial load of nothing).
    """
    from mmengine.logging import print_log
    ckpt, name = read_checkpoint(checkpoint, map_location)
    report = fit_report(model, checkpoint_state_dict(ckpt))
    if not report.ok:
        what = (f'{name} does not fit {type(unwrap_model(model)).__name__}: {report.describe()} '
                f'({report.num_matching} of {report.num_model_keys} tensors match)')
        if not partial:
            raise ValueError(f'{what}. Is it the checkpoint of another model or config? Pass {flag} to load '
                             'the matching tensors anyway (the others keep their initialisation)')
        if report.num_matching == 0:
            # A partial load of nothing is the model as initialised (random), under the checkpoint's name.
            raise ValueError(f'{what}. Not one of its tensors fits, so even {flag} would load nothing and leave '
                             'the model as initialised; is it the checkpoint of another model or config?')
        print_log(f'{what}; loading the matching tensors only ({flag})', logger='current', level=logging.WARNING)
    return ckpt, report


def load_weights(model: nn.Module, checkpoint: Union[str, Mapping], partial: bool = False,
                 flag: str = 'partial=True', map_location: str = 'cpu') -> dict:
    """Load ``checkpoint`` into ``model`` if it fits (see :func:`check_fit`); returns the checkpoint.

    With ``partial``, the tensors present with the model's shape are loaded and
    the rest of the model keeps its values.
    """
    ckpt, report = check_fit(model, checkpoint, partial=partial, flag=flag, map_location=map_location)
    state = checkpoint_state_dict(ckpt)
    bad = {k for k, _, _ in report.mismatched} | set(report.unexpected)
    loadable = OrderedDict((k, v) for k, v in state.items() if k not in bad)
    loadable._metadata = state._metadata
    # strict=False only for what the report already accepted (partial, or BN counters)
    unwrap_model(model).load_state_dict(loadable, strict=False)
    return ckpt


def load_runner_weights(runner, checkpoint: str, partial: bool = False, flag: str = '--partial-load') -> dict:
    """Load a fitting ``checkpoint`` into a Runner's model once, in place of its ``load_from``.

    The Runner would load ``load_from`` with ``strict=False`` (another model's
    checkpoint only warns) and read the file a second time after the fit
    check; this reads it once, refuses it as :func:`check_fit` does, calls the
    ``after_load_checkpoint`` hooks as ``Runner.load_checkpoint`` does, and
    marks the Runner loaded so ``test()`` does not load it again.

    Returns:
        The checkpoint.
    """
    ckpt = load_weights(runner.model, checkpoint, partial=partial, flag=flag)
    runner.call_hook('after_load_checkpoint', checkpoint=ckpt)
    runner._has_loaded = True  # Runner.load_or_resume() skips its own load_from
    runner.logger.info(f'Load checkpoint from {checkpoint}')
    return ckpt
