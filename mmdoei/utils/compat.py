"""Make mmengine 0.10.7 work with today's torch; applied once when mmdoei is imported.

Two gaps, both described in ENVIRONMENT.md:

1. Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
   the few non-tensor objects mmengine pickles into its checkpoints (the
   message hub's ``HistoryBuffer``, the numpy arrays and scalars it holds, and
   its four statistics methods, pickled as ``getattr(HistoryBuffer, 'min')``
   and so on), so ``resume`` fails. We keep ``weights_only=True`` and
   allow-list exactly those globals. ``getattr`` is not allowed as such: the
   name ``builtins.getattr`` resolves to a function that returns only those
   four methods of ``HistoryBuffer`` and refuses anything else. Nothing here
   ever falls back to full unpickling, which would run code from the file.
2. ``launcher='pytorch'`` calls ``torch.cuda.set_device`` unconditionally and
   wraps the model with ``device_ids=[LOCAL_RANK]``, so ``torchrun`` fails on a
   machine without a GPU. When CUDA is unavailable (and only then) we start the
   process group with ``gloo`` and wrap with ``device_ids=None``; the GPU path
   is left exactly as mmengine has it.
"""
import os
import pickle
from typing import List

import numpy as np
import torch
import torch.distributed as torch_dist

_APPLIED = False


_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: object, name: str) -> object:
    """``getattr`` as mmengine checkpoints use it, and for nothing else.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods by reference,
    which pickle writes as ``getattr(HistoryBuffer, 'min')``; allowing the real
    ``getattr`` would let a crafted file walk to any attribute.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics '
        'methods are allowed (mmdoei loads checkpoints with weights_only=True)')


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
            (history_buffer_getattr, 'builtins.getattr')]


def _allow_checkpoint_globals() -> None:
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(checkpoint_safe_globals())


def _patch_cpu_distributed() -> None:
    """Let ``torchrun`` (launcher='pytorch') run on CPU-only machines with gloo."""
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

    dist_utils._init_dist_pytorch = _init_dist_pytorch
    Runner.wrap_model = _wrap_model


def apply() -> None:
    """Apply both fixes once (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _allow_checkpoint_globals()
    _patch_cpu_distributed()
    _APPLIED = True
