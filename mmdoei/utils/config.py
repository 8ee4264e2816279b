"""Config helpers shared by the tools."""
from typing import Any


def set_data_root(cfg: Any, data_root: str) -> int:
    """Point every ``data_root`` entry of ``cfg`` (nested dicts and lists) at ``data_root``.

    Configs resolve ``data_root`` into each dataloader when they are parsed, so
    overriding the top-level variable alone would change nothing; this is what
    ``--data-root`` of the tools does. Returns how many entries were changed.
    """
    count = 0
    if hasattr(cfg, 'items'):  # dicts, ConfigDicts and mmengine Config itself
        for key, value in cfg.items():
            if key == 'data_root' and isinstance(value, str):
                cfg[key] = data_root
                count += 1
            else:
                count += set_data_root(value, data_root)
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            count += set_data_root(item, data_root)
    return count
