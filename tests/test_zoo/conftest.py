"""Fixtures of the model-zoo tests: local HTTP servers, a private cache and zoo, a published tiny model."""
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = str(ROOT / 'tests/data/configs/tiny_mct_voc.py')
SERVER = Path(__file__).with_name('http_server.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Servers:
    """Starts HTTP servers on 127.0.0.1 (random free ports) and stops them all at teardown."""

    def __init__(self) -> None:
        self.procs = {}

    def start(self, directory: Path, mode: str = 'static') -> str:
        """Serve ``directory`` (``python -m http.server``, or http_server.py's ``mode``); returns the base URL."""
        port = _free_port()
        cmd = ([sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1', '--directory', str(directory)]
               if mode == 'static' else [sys.executable, str(SERVER), str(port), str(directory), mode])
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f'http://127.0.0.1:{port}'
        self.procs[base] = proc
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
                return base
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f'test server {cmd} did not start')
                time.sleep(0.05)

    def stop(self, base: str = None) -> None:
        """Stop the server at ``base``, or all."""
        for b in [base] if base else list(self.procs):
            proc = self.procs.pop(b)
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def servers():
    s = Servers()
    yield s
    s.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private torch.hub cache (``$TORCH_HOME``), no mirror; returns the checkpoints folder."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.delenv('MMDOEI_MIRROR', raising=False)
    from mmdoei.utils.download import cache_dir
    assert cache_dir() == tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    return cache_dir()


@pytest.fixture
def private_zoo(monkeypatch):
    """The zoo and the loader's URL registries as they are, restored after the test."""
    from mmdoei.apis import hub
    from mmdoei.utils import download
    monkeypatch.setattr(hub, '_MODELS', dict(hub._MODELS))
    monkeypatch.setattr(hub, '_REGISTERED', list(hub._REGISTERED))
    monkeypatch.setattr(download, '_CONVERTERS', dict(download._CONVERTERS))
    monkeypatch.setattr(download, '_UNPUBLISHED', dict(download._UNPUBLISHED))
    return hub


@pytest.fixture(scope='module')
def trained_tiny(tmp_path_factory):
    """A checkpoint of the tiny MCTformer-V2 test config as the Runner writes it: weights,
    meta, and training state (optimizer after an AdamW step, schedulers, message hub)."""
    from mmengine.config import Config
    from mmengine.logging import HistoryBuffer
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    model.init_weights()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = sum(p.sum() for p in model.parameters())
    loss.backward()
    opt.step()
    buf = HistoryBuffer()
    buf.update(0.5)
    path = tmp_path_factory.mktemp('trained') / 'epoch_2.pth'
    torch.save({'meta': {'epoch': 2, 'iter': 8, 'seed': 0, 'dataset_meta': {'classes': ['a'] * 20}},
                'state_dict': model.state_dict(), 'optimizer': opt.state_dict(),
                'param_schedulers': [{'last_epoch': 2}],
                'message_hub': {'log_scalars': {'train/loss': buf}, 'runtime_info': {'epoch': 2}}}, path)
    return path


def write_index(folder: Path, models: list, collection: str = 'test zoo') -> Path:
    """A model-index.yml importing one metafile with ``models`` (Config paths absolute)."""
    import yaml
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'metafile.yml').write_text(yaml.safe_dump(
        {'Collections': [{'Name': collection, 'Metadata': {'Training Data': 'synthetic'}}],
         'Models': [dict(m, **{'In Collection': collection}) for m in models]}, sort_keys=False))
    (folder / 'model-index.yml').write_text('Import:\n  - metafile.yml\n')
    return folder / 'model-index.yml'
