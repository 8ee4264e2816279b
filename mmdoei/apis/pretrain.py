"""Pretraining the small backbone on the procedural set, once, and caching it."""
import os.path as osp
import time
from pathlib import Path
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdoei.generators.procedural import make_procedural_pretrain
from mmdoei.utils.compat import setup_env
from mmdoei.utils.config import replace_entries, set_data_root
from mmdoei.utils.io import atomic_write

PRETRAIN_CONFIG = 'configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py'
# Where the demo configs' init_cfg looks for the pretrained backbone.
PRETRAINED_CHECKPOINT = 'checkpoints/vit-6l128_procedural-64.pth'


def pretrain_backbone(config: str = PRETRAIN_CONFIG, out: str = PRETRAINED_CHECKPOINT,
                      data_root: Optional[str] = None, work_dir: Optional[str] = None,
                      force: bool = False, cfg_options: Optional[dict] = None,
                      data_options: Optional[dict] = None) -> str:
    """Write the procedural set (if missing), pretrain on it, keep the weights at ``out``.

    Args:
        config: The mmpretrain pretraining config.
        out: Destination of the checkpoint: ``{'meta', 'state_dict'}`` as
            mmengine writes it, without the optimizer and scheduler states.
        data_root: The procedural set's folder (default: the config's).
        work_dir: The runner's work dir (default ``work_dirs/pretrain/<config name>``).
        force: Pretrain again even if ``out`` exists.
        cfg_options: Config overrides (merged with ``Config.merge_from_dict``).
        data_options: Arguments for :func:`make_procedural_pretrain`
            (``num_classes``, ``num_train``, ...), e.g. a tiny set in tests.

    Returns:
        ``out``. When it already exists and ``force`` is False nothing is done:
        that is the cache the demo relies on.
    """
    if osp.exists(out) and not force:
        print(f'[pretrain] using the cached backbone {out}')
        return out
    setup_env()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if data_root:
        set_data_root(cfg, data_root)
    root = Path(cfg.train_dataloader.dataset.data_root)
    marker = root / '.complete'
    if not marker.exists():
        print(f'[pretrain] writing the procedural pretraining set to {root}')
        make_procedural_pretrain(root, **(data_options or {}))
        marker.write_text('ok\n')
    name = osp.splitext(osp.basename(config))[0]
    cfg.work_dir = work_dir or osp.join('work_dirs', 'pretrain', name)
    t0 = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    last = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    ckpt = torch.load(last, map_location='cpu', weights_only=True)
    meta = dict(ckpt.get('meta', {}))
    meta['pretrain_seconds'] = round(time.time() - t0, 1)
    with atomic_write(out) as f:
        torch.save({'meta': meta, 'state_dict': ckpt['state_dict']}, f)
    print(f'[pretrain] done in {time.time() - t0:.0f} s: {out}')
    return out


def use_pretrained(cfg, checkpoint: str, default: str = PRETRAINED_CHECKPOINT) -> int:
    """Point every init_cfg ``checkpoint`` of ``cfg.model`` that names ``default`` at ``checkpoint``.

    The demo configs name the cached backbone by a path relative to the
    repository; the tools pass an absolute one (or a test's own small
    checkpoint) through this. Returns how many init_cfgs were changed.
    """
    return replace_entries(cfg.model, 'checkpoint', str(checkpoint), lambda v: v == default)


def uses_pretrained(cfg, default: str = PRETRAINED_CHECKPOINT) -> bool:
    """True when some init_cfg of ``cfg.model`` names the cached backbone ``default``."""
    return default in str(cfg.model)


def resolve_pretrained(path: Optional[str], root: str) -> str:
    """The backbone checkpoint a tool should use: ``path`` (which must exist) or,
    without one, the cache under ``root`` (the repository), pretrained there the
    first time. Checked before any other work starts."""
    if path:
        if not osp.exists(path):
            raise FileNotFoundError(f'--pretrained {path}: no such checkpoint')
        return path
    return pretrain_backbone(osp.join(root, PRETRAIN_CONFIG), osp.join(root, PRETRAINED_CHECKPOINT),
                             data_root=osp.join(root, 'data', 'procedural'))
