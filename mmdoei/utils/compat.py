"""Make mmengine 0.10.7 load checkpoints safely and run with today's torch.

What ``import mmdoei`` changes (through :func:`register_safe_loaders`, called
by :mod:`mmdoei.utils` at import): every ``torch.load`` route of mmengine's
``CheckpointLoader`` (``mmengine/runner/checkpoint.py``) is replaced by one
that passes ``weights_only=True`` explicitly, with mmengine's allow-list
(:func:`checkpoint_safe_globals`) applied only for the duration of that one
load (:func:`mmdoei.utils.download.safe_torch_load`): the local ('') scheme,
``pavi://``, ``s3://``/``petrel://`` and the local-file branch of
``open-mmlab://`` here, ``http(s)://`` (and through it ``torchvision://``,
``mmcls://``) in :mod:`mmdoei.utils.download`. The module attributes of the
same names are rebound too, for callers that use them directly. So
``init_model``, ``get_model``, ``CAMInferencer``, a hand-built Runner's
``load_from``/``resume`` and ``CheckpointLoader.load_checkpoint`` never depend
on torch's default, on ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` or on the torch
version. Nothing is added to torch's global allow-list at import.

:func:`setup_env` (called where a Runner is about to run: by the tools, by the
``mmdoei.apis`` functions that run stages, and by anyone who launches a Runner
with ``launcher='pytorch'``/``'slurm'`` on a CPU-only machine) does the rest.
It is idempotent.

Gaps, both described in ENVIRONMENT.md, and one message:

1. Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
   the few non-tensor objects mmengine pickles into its checkpoints (the
   message hub's ``HistoryBuffer``, the numpy arrays and scalars it holds, and
   a few functions pickled by reference as ``getattr(Class, 'name')``: the
   buffer's four statistics methods and ``OneCycleParamScheduler``'s annealing
   function), so ``resume`` fails. We keep ``weights_only=True`` and
   allow-list exactly those globals. ``getattr`` is not allowed as such: the
   name ``builtins.getattr`` resolves to a function that returns only those
   attributes and refuses anything else, and ``OneCycleParamScheduler``
   resolves to an inert token that only that function accepts (the class
   itself is never handed to the unpickler, so a file cannot call it).
   Nothing here ever falls back to full unpickling, which would run code from
   the file. The loaders apply the list per load; :func:`setup_env` also adds
   it to torch's list for the process (code that calls
   ``torch.load(weights_only=True)`` on a Runner checkpoint itself needs it).
2. ``launcher='pytorch'`` calls ``torch.cuda.set_device`` unconditionally and
   wraps the model with ``device_ids=[LOCAL_RANK]``, so ``torchrun`` fails on a
   machine without a GPU. When CUDA is unavailable (and only then),
   :func:`setup_env` starts the process group with ``gloo`` and wraps with
   ``device_ids=None``. On a machine with a GPU nothing is patched: mmengine's
   functions stay as they are.
3. A local file that is not a checkpoint (random bytes, a truncated file, a
   pickle of other objects) fails in ``torch.load`` with a message that names
   no file and suggests ``weights_only=False``, i.e. running code from the
   file. :func:`load_from_local` (same name as mmengine's, so mmengine logs
   "local backend") raises a ``ValueError`` that names the file and the reason
   only.
"""
import io
import logging
import os
import os.path as osp
import pickle
import tempfile
from typing import IO, List, Optional, Union

import numpy as np
import torch
import torch.distributed as torch_dist

_APPLIED = False


class _ClassToken:
    """Stands for a class in a checkpoint whose only use there is ``getattr``."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __repr__(self) -> str:
        return f'<token for {self.cls.__qualname__}>'

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError(f'checkpoint tries to call {self.cls.__qualname__}, which mmdoei '
                                     'does not allow (checkpoints are loaded with weights_only=True)')


def _getattr_allowed() -> dict:
    """(object the unpickler sees, attribute) -> value, for every getattr mmengine pickles."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
    allowed = {(HistoryBuffer, n): getattr(HistoryBuffer, n) for n in ('min', 'max', 'current', 'mean')}
    allowed.update({(_ONE_CYCLE, n): getattr(OneCycleParamScheduler, n)
                    for n in ('_annealing_cos', '_annealing_linear')})
    return allowed


def checkpoint_getattr(obj: object, name: str) -> object:
    """``getattr`` as mmengine checkpoints use it, and for nothing else.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods by reference,
    and ``OneCycleParamScheduler`` keeps its annealing function as an
    attribute; pickle writes both as ``getattr(Class, 'name')``. Allowing the
    real ``getattr`` would let a crafted file walk to any attribute.
    """
    try:
        return _getattr_allowed()[(obj, name)]
    except (KeyError, TypeError):
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({obj!r}, {name!r}), which mmdoei does not allow '
            '(checkpoints are loaded with weights_only=True)') from None


def _one_cycle_token() -> _ClassToken:
    from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
    return _ClassToken(OneCycleParamScheduler)


_ONE_CYCLE = _one_cycle_token()


def checkpoint_safe_globals() -> List[object]:
    """The globals an mmengine 0.10.x checkpoint pickles besides tensors and containers.

    Found by saving checkpoints with the Runner and listing
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` (a test keeps it so).
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    try:  # numpy >= 2 moved the pickling helpers to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
        np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)]
    return [HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes,
            (checkpoint_getattr, 'builtins.getattr'),
            (_ONE_CYCLE, 'mmengine.optim.scheduler.param_scheduler.OneCycleParamScheduler')]


def _allow_checkpoint_globals() -> None:
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(checkpoint_safe_globals())


#: Lines of torch's weights_only errors that give advice rather than the reason: to unpickle
#: fully (which runs the file's code) or to allow-list the file's globals.
_ADVICE = ('Weights only load failed', 'Check the documentation', 'Re-running', '(1)', '(2)', 'Please file an issue',
           'Please use', 'Do it only if')


def _reason(error: BaseException) -> str:
    """``'Type: reason'`` of torch's error, without its advice to unpickle fully or allow-list globals."""
    cause = error
    while cause.__cause__ is not None:  # UnsafeCheckpointError wraps torch's UnpicklingError
        cause = cause.__cause__
    text = str(cause).split('WeightsUnpickler error:')[-1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith(_ADVICE) and 'weights_only' not in ln]
    reason = keep[0].split(' Please use ')[0] if keep else 'the file is empty or ends early'
    return f'{type(cause).__name__}: {reason}'


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
    from .download import safe_torch_load
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


def _patch_cpu_distributed() -> None:
    """Let ``torchrun`` and ``srun`` (launcher='pytorch' / 'slurm') run on CPU-only machines with gloo."""
    import mmengine.dist.utils as dist_utils
    from mmengine.runner import Runner

    init_dist_pytorch = dist_utils._init_dist_pytorch
    wrap_model = Runner.wrap_model

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return init_dist_pytorch(backend, init_backend=init_backend, **kwargs)
        # No GPU: nccl cannot work and set_device would fail; gloo on env:// does.
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']), **kwargs)

    def _wrap_model(self, model_wrapper_cfg, model):
        if torch.cuda.is_available() or not torch_dist.is_initialized():
            return wrap_model(self, model_wrapper_cfg, model)
        from mmengine.registry import MODEL_WRAPPERS
        from torch.nn.parallel import DistributedDataParallel
        cfg = dict(model_wrapper_cfg or dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=self.cfg.get('find_unused_parameters', False)))
        cfg.setdefault('type', 'MMDistributedDataParallel')
        wrapper = MODEL_WRAPPERS.get(cfg['type'])
        if isinstance(wrapper, type) and issubclass(wrapper, DistributedDataParallel):
            cfg.setdefault('device_ids', None)  # CPU modules take no device ids
        return wrap_model(self, cfg, model)

    init_dist_slurm = dist_utils._init_dist_slurm

    def _init_dist_slurm(backend, port=None, init_backend='torch', **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return init_dist_slurm(backend, port=port, init_backend=init_backend, **kwargs)
        # launcher='slurm' (srun) has the same set_device call. No GPU: mmengine derives
        # RANK, WORLD_SIZE, MASTER_ADDR... from the SLURM_* variables itself, so let it,
        # minus its set_device (which fails without CUDA), on gloo.
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None
        try:
            init_dist_slurm('gloo', port=port, init_backend=init_backend, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    dist_utils._init_dist_pytorch = _init_dist_pytorch
    dist_utils._init_dist_slurm = _init_dist_slurm
    Runner.wrap_model = _wrap_model


def setup_env() -> None:
    """Apply the fixes once (idempotent).

    The checkpoint globals are added to torch's allow-list for the process
    wherever torch has ``add_safe_globals`` (for code that calls
    ``torch.load(weights_only=True)`` on a Runner checkpoint itself; mmengine's
    loaders do not need it since ``import mmdoei``); the distributed patches
    are applied only when CUDA is unavailable, so on a GPU machine
    ``Runner.wrap_model`` and ``_init_dist_pytorch`` stay mmengine's.
    """
    global _APPLIED
    if _APPLIED:
        return
    _allow_checkpoint_globals()
    register_safe_loaders()  # done at import already; again in case something re-registered mmengine's
    if not torch.cuda.is_available():
        _patch_cpu_distributed()
    _APPLIED = True
