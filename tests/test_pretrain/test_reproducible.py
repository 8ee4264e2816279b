"""Pretraining is reproducible by construction: two short runs of the real
config give the same per-iteration losses bit for bit, another seed does not,
and the thread count the config names is the one the forward passes run with."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmdoei.apis.pretrain import (PRETRAIN_CONFIG, checkpoint_stamp, pretrain_backbone, pretrain_cfg, pretrain_stamp,
                                  pretrained_checkpoint, procedural_root)
from mmdoei.engine import NumThreadsHook

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / PRETRAIN_CONFIG)
SEEN_THREADS = []


@HOOKS.register_module(force=True)
class _RecordThreadsHook(Hook):
    """Records the thread count at every training iteration, i.e. around every forward."""
    priority = 'LOWEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        SEEN_THREADS.append(torch.get_num_threads())


# 5 classes x 3 images, batch 4: 4 iterations per epoch, 2 epochs; every
# iteration's loss logged unsmoothed (window 1). The training data go through
# one worker process, as in the real config, so its seeding is checked too.
# One thread (the config says 2): on a loaded 2-core machine two OpenMP
# threads spin against other jobs and the run takes ten times longer; the
# caller's count is set to 2 instead, so the hook's effect is still visible.
TINY = {'default_hooks.num_threads.num_threads': 1,
        'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 2, 'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1, 'log_processor': dict(window_size=1),
        'train_dataloader.batch_size': 4, 'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0, 'val_dataloader.persistent_workers': False,
        'model.head.num_classes': 5, 'data_preprocessor.num_classes': 5, 'log_level': 'WARNING',
        'custom_hooks': [dict(type='_RecordThreadsHook')]}
DATA = dict(num_classes=5, num_train=3, num_val=1, progress=False)


def _pretrain(tmp_path: Path, name: str, seed=None) -> tuple:
    out = tmp_path / f'{name}.pth'
    pretrain_backbone(CONFIG, str(out), data_root=str(tmp_path / f'data_{name}'), work_dir=str(tmp_path / name),
                      cfg_options=TINY, data_options=DATA, seed=seed)
    scalars = list((tmp_path / name).glob('*/vis_data/scalars.json'))
    assert len(scalars) == 1
    rows = [json.loads(line) for line in scalars[0].read_text().splitlines()]
    losses = [(r['iter'], r['loss']) for r in rows if 'loss' in r]
    return losses, torch.load(out, map_location='cpu', weights_only=True)


@pytest.mark.slow
def test_two_pretraining_runs_give_identical_losses(tmp_path):
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    SEEN_THREADS.clear()
    try:
        first, ckpt1 = _pretrain(tmp_path, 'a')
        # the config's count (1) during every iteration, the caller's (2) given back after
        assert SEEN_THREADS == [1] * 8 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    second, ckpt2 = _pretrain(tmp_path, 'b')
    assert [i for i, _ in first] == list(range(1, 9))  # every iteration, none smoothed away
    assert first == second  # floats from the json: bit for bit
    for k, v in ckpt1['state_dict'].items():
        assert torch.equal(v, ckpt2['state_dict'][k]), k
    # the two sets were written independently and are identical too
    files = sorted(p.relative_to(tmp_path / 'data_a') for p in (tmp_path / 'data_a').rglob('*.jpg'))
    assert len(files) == 20
    assert all((tmp_path / 'data_a' / f).read_bytes() == (tmp_path / 'data_b' / f).read_bytes() for f in files)
    # another seed draws another set and trains otherwise: the comparison can fail
    third, ckpt3 = _pretrain(tmp_path, 'c', seed=1)
    assert [v for _, v in third] != [v for _, v in first]
    assert ckpt3['meta']['pretrain_seed'] == 1 and ckpt1['meta']['pretrain_seed'] == 0
    assert checkpoint_stamp(str(tmp_path / 'a.pth')) == checkpoint_stamp(str(tmp_path / 'b.pth'))
    assert checkpoint_stamp(str(tmp_path / 'c.pth')) != checkpoint_stamp(str(tmp_path / 'a.pth'))


def test_the_config_fixes_seed_determinism_and_threads():
    cfg = pretrain_cfg(CONFIG)
    assert cfg.randomness == dict(seed=0, deterministic=True)
    assert cfg.default_hooks.num_threads == dict(type='NumThreadsHook', num_threads=2)
    assert cfg.train_dataloader.num_workers <= 1  # one seeded worker: batches arrive in one order
    # a seed moves both the data's and training's seed, and the stamp with them
    seeded = pretrain_cfg(CONFIG, seed=3)
    assert seeded.procedural_data.seed == 3 and seeded.randomness.seed == 3
    assert pretrain_stamp(seeded) != pretrain_stamp(cfg)
    assert pretrain_stamp(pretrain_cfg(CONFIG, seed=0)) == pretrain_stamp(cfg)
    assert pretrained_checkpoint(0) == 'checkpoints/vit-6l128_procedural-64.pth'
    assert pretrained_checkpoint(2) == 'checkpoints/vit-6l128_procedural-64_seed2.pth'
    assert procedural_root(2) == 'data/procedural_seed2'


def test_demo_configs_fix_seed_determinism_and_threads():
    from mmdoei.apis.pipeline import stage1_cfg
    for config in ('mctformer-v2_vit-6l128-pre_synthetic-64.py', 'tscam_vit-6l128-pre_synthetic-64.py',
                   'transcam_conformer-6l128-pre_synthetic-128.py'):
        cfg = stage1_cfg(str(ROOT / 'configs/demo' / config), '/tmp/unused', seed=2)
        assert cfg.randomness == dict(seed=2, deterministic=True), config
        assert cfg.default_hooks.num_threads == dict(type='NumThreadsHook', num_threads=2), config
        assert cfg.train_dataloader.num_workers == 0 and cfg.cam_dataloader.num_workers == 0, config


def test_a_set_made_with_other_arguments_is_refused(tmp_path):
    from mmdoei.apis.pretrain import ensure_procedural_set
    ensure_procedural_set(tmp_path, dict(num_classes=2, num_train=1, num_val=1, seed=0), progress=False)
    with pytest.raises(ValueError) as err:
        ensure_procedural_set(tmp_path, dict(num_classes=2, num_train=1, num_val=1, seed=1), progress=False)
    assert str(err.value) == (
        f'procedural set folder {tmp_path} holds outputs made with other settings (old -> new):\n'
        '  generator.seed: 0 -> 1\nNothing was reused or changed. Write elsewhere, or delete the folder (or pass '
        'another --data-root) to delete its outputs and start again.')


def test_a_complete_set_is_not_written_again_and_an_older_marker_is_kept(tmp_path, capsys):
    """An unchanged rerun writes nothing; a set an older mmdoei completed (its ``.complete`` marker of the
    same arguments, no record) is adopted as it is, one of other arguments refused."""
    import json

    from mmdoei.apis.pretrain import ensure_procedural_set
    data = dict(num_classes=2, num_train=1, num_val=1, seed=0)
    ensure_procedural_set(tmp_path / 'new', data, progress=False)
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / 'new').rglob('*') if p.name != '.mmdoei.lock'}
    capsys.readouterr()
    ensure_procedural_set(tmp_path / 'new', data, progress=False)
    assert capsys.readouterr().out == '' and {p: p.stat().st_mtime_ns for p in files} == files
    old = tmp_path / 'old'
    (old / 'train').mkdir(parents=True)
    (old / '.complete').write_text(json.dumps(data, sort_keys=True) + '\n')
    ensure_procedural_set(old, data, progress=False)
    assert capsys.readouterr().out == '' and not list((old / 'train').iterdir())
    (old / '.mmdoei-record.json').unlink()
    with pytest.raises(ValueError, match=rf'^procedural set folder {old} holds outputs \(train\) but no '):
        ensure_procedural_set(old, dict(data, seed=3), progress=False)


def test_num_threads_hook_refuses_a_bad_count():
    with pytest.raises(ValueError, match="NumThreadsHook: num_threads must be a positive int, got 0"):
        NumThreadsHook(0)
