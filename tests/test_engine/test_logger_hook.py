"""The test metrics JSON is written by rank 0 only, and whole.

mmengine's ``LoggerHook.after_test_epoch`` writes ``{timestamp}.json`` on
every rank; two ranks writing it at once left ``{...}}`` behind in a
two-node test run (tests/test_engine/test_multinode.py).
"""
import json
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from mmengine.config import Config
from mmengine.hooks import LoggerHook

from mmdoei.engine import MainProcessLoggerHook

ROOT = Path(__file__).resolve().parents[2]
METRICS = {'mIoU': 41.5, 'aAcc': 80.25, 'time': 0.125}


def fake_runner(log_dir: Path) -> SimpleNamespace:
    """What ``after_test_epoch`` reads from a runner."""
    processor = SimpleNamespace(get_log_after_epoch=lambda runner, n, mode, with_non_scalar: (dict(METRICS), 'log'))
    return SimpleNamespace(log_processor=processor, test_dataloader=[0, 1], logger=mock.Mock(), log_dir=str(log_dir),
                           timestamp='20261130_000000', work_dir=str(log_dir))


def run_hook(hook: LoggerHook, tmp_path: Path, main: bool) -> Path:
    runner = fake_runner(tmp_path)
    hook.before_run(runner)
    with mock.patch('mmdoei.engine.hooks.is_main_process', return_value=main), \
            mock.patch('mmengine.dist.get_rank', return_value=0 if main else 1):
        hook.after_test_epoch(runner)
    runner.logger.info.assert_called_once_with('log')  # every rank still logs the line
    return tmp_path / '20261130_000000.json'


def test_rank0_writes_the_metrics_json(tmp_path):
    path = run_hook(MainProcessLoggerHook(), tmp_path, main=True)
    assert json.loads(path.read_text()) == METRICS
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_other_ranks_write_nothing(tmp_path):
    path = run_hook(MainProcessLoggerHook(), tmp_path, main=False)
    assert not path.exists()
    # mmengine's own hook does write there on a non-zero rank: the reason for ours.
    assert run_hook(LoggerHook(), tmp_path, main=False).exists()


@pytest.mark.parametrize('config', sorted(p.relative_to(ROOT / 'configs').as_posix()
                                          for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts))
def test_every_config_logs_with_it(config):
    cfg = Config.fromfile(str(ROOT / 'configs' / config))
    assert cfg.default_hooks.logger.type == 'MainProcessLoggerHook', cfg.default_hooks.logger
