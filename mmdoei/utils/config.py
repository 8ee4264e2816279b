"""Reading configs, for every layer: entries of a type (hooks, metrics), a
config's hooks, a key replaced wherever it occurs, and the mixed-precision check.

These change nothing by themselves; the changes mmdoei makes to a user's
config (data root, schedule, CAM generation, CAM folders, test-time
augmentation) are all in :mod:`mmdoei.apis.config_surgery`.
"""
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


def check_amp_device() -> None:
    """Refuse mixed precision without a CUDA GPU (``ValueError`` with :data:`AMP_CPU_MESSAGE`).

    The authors train and make CAMs under CUDA autocast; on the CPU bfloat16
    autocast would be slower than float32 here, and fp16 is not an option.
    """
    if not torch.cuda.is_available():
        raise ValueError(AMP_CPU_MESSAGE)
