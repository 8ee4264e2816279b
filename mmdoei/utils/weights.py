"""Load a checkpoint into a model only if it fits: :func:`load_weights`, :func:`fit_report`.

mmengine's ``load_checkpoint`` and the Runner's ``load_from`` load with
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
buffers) must be there with its shape; the checkpoints the Runner writes for
every model family of mmdoei (MCTformer, TS-CAM, TransCAM, AffinityNet,
DeepLab) fit exactly (tests/test_apis/test_checkpoint_loading.py).

Backbone ``init_cfg=dict(type='Pretrained', ...)`` is not affected: an
initialisation keeps mmengine's partial-load semantics.
"""
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import List, Mapping, Tuple, Union

import torch
from torch import nn

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

    @property
    def ok(self) -> bool:
        """True when every tensor of the model is in the state dict with its shape and nothing else is."""
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def num_matching(self) -> int:
        """Tensors that would be loaded."""
        return self.num_model_keys - len(self.missing) - len(self.mismatched)

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
            if not IGNORED_MISSING.search(key):
                report.missing.append(key)
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
            first few keys of what is missing, unexpected or mis-shaped, and ``flag``.
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
