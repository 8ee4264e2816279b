"""Config helpers shared by the tools."""
from typing import Any, Callable, Iterable, List

import torch

AMP_CPU_MESSAGE = ('--amp (mixed precision) needs a CUDA GPU; no GPU is visible, and on the CPU '
                   'autocast would only slow training and CAM generation down. Run without --amp.')


def entries_of_type(entries: Iterable[Any], type_name: str) -> List[dict]:
    """The dict entries (hooks, metrics, ...) whose ``type`` is ``type_name``, also
    when written with a scope (``'mmdoei.DOEIHook'``)."""
    return [e for e in entries if isinstance(e, dict) and str(e.get('type', '')).split('.')[-1] == type_name]


def config_hooks(cfg: Any, type_name: str) -> List[dict]:
    """The ``type_name`` hooks of a config, from ``default_hooks`` and ``custom_hooks``."""
    return entries_of_type(list((cfg.get('default_hooks') or {}).values()) + list(cfg.get('custom_hooks') or []),
                           type_name)


def replace_entries(cfg: Any, key: str, new: Any, match: Callable[[Any], bool]) -> int:
    """Set every ``key`` entry of ``cfg`` (nested dicts and lists) whose value
    satisfies ``match`` to ``new``; returns how many entries were changed."""
    count = 0
    if hasattr(cfg, 'items'):  # dicts, ConfigDicts and mmengine Config itself
        for k, value in cfg.items():
            if k == key and match(value):
                cfg[k] = new
                count += 1
            else:
                count += replace_entries(value, key, new, match)
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            count += replace_entries(item, key, new, match)
    return count


def set_data_root(cfg: Any, data_root: str) -> int:
    """Point every ``data_root`` entry of ``cfg`` (nested dicts and lists) at ``data_root``.

    Configs resolve ``data_root`` into each dataloader when they are parsed, so
    overriding the top-level variable alone would change nothing; this is what
    ``--data-root`` of the tools does. Returns how many entries were changed.
    """
    return replace_entries(cfg, 'data_root', data_root, lambda v: isinstance(v, str))


def shorten_schedule(cfg: Any, length: int) -> Any:
    """Set an epoch- or iteration-based config's training length to ``length``.

    ``max_epochs`` (or ``max_iters``), the validation and checkpoint intervals
    and the end of every parameter scheduler that ended with training follow
    (a warm-up keeps its length). Returns ``cfg`` (changed in place).
    """
    key = 'max_epochs' if 'max_epochs' in cfg.train_cfg else 'max_iters'
    old = cfg.train_cfg.get(key)
    cfg.train_cfg[key] = length
    cfg.train_cfg.val_interval = length
    for sched in cfg.get('param_scheduler') or []:
        if sched.get('end') == old:
            sched['end'] = length
    cfg.default_hooks.checkpoint.interval = length
    return cfg


def check_amp_device() -> None:
    """Refuse mixed precision without a CUDA GPU (``ValueError`` with :data:`AMP_CPU_MESSAGE`).

    The authors train and make CAMs under CUDA autocast; on the CPU bfloat16
    autocast would be slower than float32 here, and fp16 is not an option.
    """
    if not torch.cuda.is_available():
        raise ValueError(AMP_CPU_MESSAGE)
