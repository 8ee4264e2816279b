"""Make mmengine 0.10.7 run with today's torch: :func:`setup_env`, and the checkpoint allow-list.

Importing this module changes nothing. What ``import mmdoei`` changes is the
loading of checkpoints (:mod:`mmdoei.utils.weights` and
:mod:`mmdoei.utils.download`: every ``torch.load`` route of mmengine's
``CheckpointLoader`` passes ``weights_only=True`` explicitly, with
:func:`checkpoint_safe_globals` applied for that one load, never added to
torch's list at import).

:func:`setup_env` is called where a Runner is about to run: by the tools, by
the ``mmdoei.apis`` functions that run stages, and by anyone who launches a
Runner with ``launcher='pytorch'``/``'slurm'`` on a CPU-only machine or calls
``torch.load(weights_only=True)`` on a Runner checkpoint directly. It is
idempotent. Loading a checkpoint through mmengine (``init_model``,
``load_from``, ``resume``...) does not need it.

Two gaps of mmengine 0.10.7 with torch >= 2.6 (measured on the project's machines):

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
"""
import os
import pickle
from typing import List

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
    if not torch.cuda.is_available():
        _patch_cpu_distributed()
    _APPLIED = True
