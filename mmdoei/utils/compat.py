"""Make mmengine 0.10.7 work with today's torch: :func:`setup_env`.

Importing mmdoei changes nothing in mmengine or torch. :func:`setup_env` is
called where a Runner is about to run: by the tools, by the ``mmdoei.apis``
functions that run stages, and by anyone who builds a Runner by hand and
needs one of the two fixes below. It is idempotent.

Two gaps, both described in ENVIRONMENT.md, and one message:

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
   the file.
2. ``launcher='pytorch'`` calls ``torch.cuda.set_device`` unconditionally and
   wraps the model with ``device_ids=[LOCAL_RANK]``, so ``torchrun`` fails on a
   machine without a GPU. When CUDA is unavailable (and only then) we start the
   process group with ``gloo`` and wrap with ``device_ids=None``. On a machine
   with a GPU nothing is patched: mmengine's functions stay as they are.
3. A local file that is not a checkpoint (random bytes, a truncated file, a
   pickle of other objects) fails in ``torch.load`` with a message that names
   no file and suggests ``weights_only=False``, i.e. running code from the
   file. mmengine's local loader is replaced by :func:`load_from_local` (same name, so mmengine logs "local backend"),
   which loads the same way (``weights_only=True``) and names the file.
"""
import os
import os.path as osp
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


def load_from_local(filename: str, map_location=None) -> object:
    """mmengine's local checkpoint loader (``torch.load``, ``weights_only=True``)
    with an error that names the file.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file and what torch found wrong, when it is
            not a checkpoint (never retried with full unpickling).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as e:
        text = str(e)
        # torch's message ends with the reason, after advice to unpickle fully; keep the reason only
        reason = text.split('WeightsUnpickler error:')[-1].strip().splitlines()[0] if text.strip() else (
            'the file is empty or ends early')
        raise ValueError(f'{filename}: cannot load as a checkpoint ({type(e).__name__}: {reason}); mmdoei '
                         'loads checkpoints with weights_only=True and never unpickles fully (that would run '
                         'code from the file), so a file that is not a torch checkpoint, is truncated, or '
                         'pickles other objects is refused') from e


def _register_local_loader() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)


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

    The checkpoint globals are allow-listed wherever torch has
    ``add_safe_globals`` (mmengine's resume needs them with any device); the
    distributed patches are applied only when CUDA is unavailable, so on a GPU
    machine ``Runner.wrap_model`` and ``_init_dist_pytorch`` stay mmengine's.
    """
    global _APPLIED
    if _APPLIED:
        return
    _allow_checkpoint_globals()
    _register_local_loader()
    if not torch.cuda.is_available():
        _patch_cpu_distributed()
    _APPLIED = True
