"""DOEI that follows the model's config, whoever builds it.

A Runner attaches DOEI through :class:`~mmdoei.doei.DOEIHook`, but builders
that never start a Runner (``mmdoei.apis.get_model``/``init_model``,
``mmpretrain.get_model``) only read ``model``. So a config can carry DOEI in
the model itself, for any host model::

    model = dict(type='DOEIModel', model_type='ImageClassifier', doei=dict())

``DOEIModel`` (a builder in mmengine's root model registry, so every scope finds
it) builds ``model_type`` from the other keys in the current registry scope and
attaches DOEI to its ``backbone`` (or ``doei_module``). It returns the host
model itself: same class, same state dict. :func:`attach_from_hooks` does the
same for a config whose ``custom_hooks`` carry a ``DOEIHook`` (the apis call it).

Every attachment logs one line (:func:`attach_logged`); inside
:func:`deferred_doei_log` the lines are collected instead, so a builder that
silences the build log can still say that DOEI is on.
"""
import contextlib
from typing import Iterator, List, Optional, Union

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import MODELS
from torch import nn

from mmdoei.utils.config import entries_of_type
from .attach import DOEIHandle, attach_doei
from .config import DOEIConfig

_DEFERRED: List[List[str]] = []


def doei_target(model: nn.Module, module: Optional[str] = None) -> nn.Module:
    """The transformer DOEI attaches to: ``module`` (a dotted attribute path) or the
    model's ``backbone`` (the model itself if it has none)."""
    if is_model_wrapper(model):
        model = model.module
    path = module or ('backbone' if hasattr(model, 'backbone') else '')
    for part in filter(None, path.split('.')):
        if not hasattr(model, part):
            raise AttributeError(f'DOEI: the model ({type(model).__name__}) has no submodule {path!r}')
        model = getattr(model, part)
    return model


def doei_handle(model: nn.Module, module: Optional[str] = None) -> Optional[DOEIHandle]:
    """The DOEI handle attached to ``model``'s transformer, or None."""
    return getattr(doei_target(model, module), '_doei_handle', None)


def describe(target: nn.Module, handle: DOEIHandle) -> str:
    """The log line of an attachment (one format for the hook, the builder and the apis)."""
    return (f'DOEI attached to {type(target).__name__} ({handle.family.name} attention, adapter '
            f'{handle.family.adapter.__name__}): {handle.num_layers} of {handle.depth} blocks, '
            f'C={handle.num_cls}, {handle.cfg.to_dict()}')


def announce(line: str) -> None:
    """Log ``line`` at INFO on mmengine's current logger, or keep it for the enclosing
    :func:`deferred_doei_log`."""
    if _DEFERRED:
        _DEFERRED[-1].append(line)
    else:
        print_log(line, logger='current')


@contextlib.contextmanager
def deferred_doei_log() -> Iterator[List[str]]:
    """Collect the DOEI lines logged inside (the caller logs them once, later)."""
    lines: List[str] = []
    _DEFERRED.append(lines)
    try:
        yield lines
    finally:
        _DEFERRED.remove(lines)


def attach_logged(model: nn.Module, doei: Union[DOEIConfig, dict, None], module: Optional[str] = None,
                  source: str = '') -> DOEIHandle:
    """:func:`attach_doei` to ``model``'s transformer, and one log line saying so."""
    target = doei_target(model, module)
    handle = attach_doei(target, doei)
    announce(describe(target, handle) + (f' ({source})' if source else ''))
    return handle


def hook_settings(cfg) -> List[dict]:
    """The ``DOEIHook`` entries of a config's ``custom_hooks`` (``type`` removed)."""
    return [{k: v for k, v in dict(h).items() if k not in ('type', 'priority')}
            for h in entries_of_type(cfg.get('custom_hooks') or [], 'DOEIHook')]


def attach_from_hooks(model: nn.Module, cfg) -> Optional[DOEIHandle]:
    """Attach DOEI as the config's ``DOEIHook`` would in a Runner (same settings, same
    module), for models built outside a Runner; None if the config has no such hook.

    A model that already has DOEI with the same settings (``DOEIModel``) is left
    as it is, as the hook leaves it in training.
    """
    handle = None
    for settings in hook_settings(cfg):
        module = settings.pop('module', None)
        doei = DOEIConfig.from_dict(settings)
        old = doei_handle(model, module)
        if old is not None and old.cfg == doei:
            handle = old
            continue
        handle = attach_logged(model, doei, module, source="the config's DOEIHook")
    return handle


@MODELS.register_module(name='DOEIModel')
def build_doei_model(model_type: str, doei: Optional[dict] = None, doei_module: Optional[str] = None,
                     **kwargs) -> nn.Module:
    """Build ``dict(type=model_type, **kwargs)`` in the current scope and attach DOEI to it.

    Args:
        model_type: The host model's type (``'ImageClassifier'``, ``'EncoderDecoder'``, ...).
        doei: :class:`DOEIConfig` keys (``dict()`` for the defaults); None builds
            the host model without DOEI.
        doei_module: Where DOEI goes (as ``DOEIHook(module=...)``); default the backbone.
        **kwargs: The host model's arguments.

    Returns:
        The host model (its class and state dict unchanged), DOEI attached.
    """
    model = MODELS.build(dict(type=model_type, **kwargs))
    if doei is not None:
        attach_logged(model, doei, doei_module)
    return model
