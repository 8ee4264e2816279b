"""Checkpoint downloads over a local HTTP server: mirror, hash check, atomicity, pickles, offline."""
import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.runner import CheckpointLoader, load_checkpoint

from mmdoei.apis import get_model, inference_cams, init_model
from mmdoei.utils import download
from mmdoei.utils.download import (CheckpointDownloadError, CheckpointHashError, UnsafeCheckpointError,
                                   confirm_url_from_html, file_name_for, hash_prefix_of, sha256_of)
from .conftest import ROOT, TINY_CONFIG, write_index

# trained_tiny (message hub included) is compared with torch.load(weights_only=True) as after setup_env().
pytestmark = pytest.mark.usefixtures('mmdoei_setup_env')


def _hashed(src, folder, stem='tiny'):
    """``src`` copied to ``folder/<stem>-<sha256[:8]>.pth``."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f'{stem}-{sha256_of(src)[:8]}.pth'
    shutil.copyfile(src, dst)
    return dst


def _files(folder):
    """The files of ``folder``, the lock files of cache entries aside (they stay, empty of meaning)."""
    return sorted(p.name for p in folder.rglob('*') if not p.name.endswith('.lock')) if folder.exists() else []


@pytest.mark.slow
def test_published_model_by_name_through_the_mirror(trained_tiny, cache, servers, private_zoo, tmp_path,
                                                    monkeypatch):
    """publish_model.py round trip: publish, serve as the mirror, get_model by name: same CAMs."""
    release = tmp_path / 'release'
    out = subprocess.run([sys.executable, str(ROOT / 'tools/model_converters/publish_model.py'),
                          str(trained_tiny), str(release / 'tiny-mct_synthvoc.pth'), '--name', 'tiny-mct_synthvoc',
                          '--config', TINY_CONFIG], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    (published, ) = release.glob('tiny-mct_synthvoc-*.pth')
    sha = sha256_of(published)
    assert published.name == f'tiny-mct_synthvoc-{sha[:8]}.pth' and sha in out.stdout
    # training state stripped, weights and meta kept as they were
    ckpt = torch.load(published, weights_only=True)
    assert sorted(ckpt) == ['meta', 'state_dict']
    original = torch.load(trained_tiny, weights_only=True)
    assert ckpt['meta'] == original['meta']
    for k, v in original['state_dict'].items():
        torch.testing.assert_close(ckpt['state_dict'][k], v, rtol=0, atol=0)
    # the printed entry, as the metafile will hold it
    import yaml
    entry = yaml.safe_load(out.stdout.split('metafile entry:')[1])[0]
    assert entry['Published'] is False and entry['Weights'].endswith('/' + published.name)
    assert entry['Weights'].startswith('https://github.com/')
    write_index(tmp_path / 'zoo', [entry])
    private_zoo.register_model_index(tmp_path / 'zoo' / 'model-index.yml', mmpretrain_hub=False)

    base = servers.start(release)
    monkeypatch.setenv('MMDOEI_MIRROR', base)
    model = get_model('tiny-mct_synthvoc', pretrained=True)
    assert _files(cache) == [published.name]
    assert sha256_of(cache / published.name) == sha

    img = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    ref = inference_cams(init_model(TINY_CONFIG, str(trained_tiny)), img, labels=[2, 5])
    got = inference_cams(model, img, labels=[2, 5])
    np.testing.assert_array_equal(got['cams'], ref['cams'])
    np.testing.assert_array_equal(got['scores'], ref['scores'])

    # once cached, no server is needed; a name from init_model works too
    servers.stop(base)
    again = init_model('tiny-mct_synthvoc', entry['Weights'])
    np.testing.assert_array_equal(inference_cams(again, img, labels=[2, 5])['cams'], ref['cams'])


def test_mirror_folder_is_read_in_place(trained_tiny, cache, tmp_path, monkeypatch, private_zoo):
    release = tmp_path / 'mirror'
    published = _hashed(trained_tiny, release)
    write_index(tmp_path / 'zoo', [{'Name': 'tiny-folder', 'Config': TINY_CONFIG, 'Published': False,
                                    'Weights': f'https://example.invalid/r/{published.name}',
                                    'Weights Note': 'not live yet'}])
    private_zoo.register_model_index(tmp_path / 'zoo' / 'model-index.yml', mmpretrain_hub=False)
    with pytest.raises(CheckpointDownloadError, match='not live yet') as e:  # no mirror, no cache, no request
        get_model('tiny-folder', pretrained=True)
    assert str(cache / published.name) in str(e.value) and published.name[5:13] in str(e.value)
    monkeypatch.setenv('MMDOEI_MIRROR', str(release))
    model = get_model('tiny-folder', pretrained=True)
    torch.testing.assert_close(model.state_dict(), torch.load(trained_tiny, weights_only=True)['state_dict'])
    assert _files(cache) == []  # used where it is


def test_tampered_file_gives_the_hash_error_and_leaves_nothing(trained_tiny, cache, servers, tmp_path):
    served = tmp_path / 'served'
    good = _hashed(trained_tiny, served)
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    good.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    url = servers.start(served) + '/' + good.name
    with pytest.raises(CheckpointHashError) as e:
        CheckpointLoader.load_checkpoint(url, map_location='cpu')
    msg = str(e.value)
    assert url in msg and hash_prefix_of(good.name) in msg and actual in msg
    assert _files(cache) == []
    # a tampered file placed in the cache by hand is caught and removed as well
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(good, cache / good.name)
    with pytest.raises(CheckpointHashError, match='sha256 mismatch'):
        CheckpointLoader.load_checkpoint(url)
    assert _files(cache) == []


def test_server_stopping_mid_file_leaves_no_partial_file(trained_tiny, cache, servers, tmp_path):
    served = tmp_path / 'served'
    good = _hashed(trained_tiny, served)
    size = good.stat().st_size
    url = servers.start(served, mode='truncate') + '/' + good.name
    with pytest.raises(CheckpointDownloadError, match=f'stopped after {size // 2} of {size} bytes'):
        CheckpointLoader.load_checkpoint(url)
    assert _files(cache) == []
    # a partial file of a download that was killed is removed by the next one, which completes
    cache.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                          text=True).stdout.strip()
    (cache / f'.{good.name}.{dead}.abc.part').write_bytes(b'half')
    url = servers.start(served) + '/' + good.name
    ckpt = CheckpointLoader.load_checkpoint(url)
    assert sorted(ckpt) == ['message_hub', 'meta', 'optimizer', 'param_schedulers', 'state_dict']
    assert _files(cache) == [good.name]


class _RunsCommand:
    """Pickles as a call of os.system, as a malicious checkpoint would."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


@pytest.mark.slow
def test_pickled_callable_is_refused_over_http(cache, servers, tmp_path):
    from torch import nn
    marker = tmp_path / 'MARKER'
    src = tmp_path / 'evil.pth'
    torch.save({'state_dict': nn.Linear(2, 2).state_dict(), 'meta': _RunsCommand(f'touch {marker}')}, src)
    served = tmp_path / 'served'
    evil = _hashed(src, served, 'evil')  # a valid hash: only the unpickling can stop it
    # the file really runs the command when unpickled in full (in another process)
    probe = tmp_path / 'probe' / evil.name
    probe.parent.mkdir()
    shutil.copyfile(evil, probe)
    subprocess.run([sys.executable, '-c', f'import torch; torch.load({str(probe)!r}, weights_only=False)'],
                   capture_output=True, cwd=tmp_path)
    assert marker.exists(), 'the test checkpoint does not run its command'
    marker.unlink()

    url = servers.start(served) + '/' + evil.name
    with pytest.raises(UnsafeCheckpointError, match='refused to load') as e:
        CheckpointLoader.load_checkpoint(url)
    msg = str(e.value)
    assert url in msg and 'GLOBAL posix.system' in msg  # torch's reason, without its advice
    assert 'weights_only=False' not in msg and 'set to `False`' not in msg and 'add_safe_globals' not in msg
    assert f'The download was deleted; nothing was written to {cache / evil.name}.' in msg
    assert _files(cache) == []
    with pytest.raises(UnsafeCheckpointError):  # the path the Runner takes (load_from, init_cfg)
        load_checkpoint(nn.Linear(2, 2), url)
    assert not marker.exists()


def test_stopped_server_gives_the_offline_error(trained_tiny, cache, servers, tmp_path):
    served = tmp_path / 'served'
    good = _hashed(trained_tiny, served)
    base = servers.start(served)
    servers.stop(base)
    url = f'{base}/{good.name}'
    with pytest.raises(CheckpointDownloadError) as e:
        CheckpointLoader.load_checkpoint(url)
    msg = str(e.value)
    assert url in msg and good.name in msg and f'sha256 starting {hash_prefix_of(good.name)}' in msg
    assert str(cache / good.name) in msg and 'MMDOEI_MIRROR' in msg
    assert _files(cache) == []


def _to_authors_mctformer(state: dict) -> dict:
    """Our MCTformer-V2 state dict in the authors' release format ({'model': timm names})."""
    rules = [('backbone.patch_embed.projection.', 'patch_embed.proj.'), ('.ln1.', '.norm1.'), ('.ln2.', '.norm2.'),
             ('.ffn.layers.0.0.', '.mlp.fc1.'), ('.ffn.layers.1.', '.mlp.fc2.'), ('backbone.layers.', 'blocks.'),
             ('backbone.', ''), ('head.conv.', 'head.')]
    out = {}
    for k, v in state.items():
        for a, b in rules:
            k = k.replace(a, b)
        out[k] = v
    dim = state['backbone.cls_token'].shape[-1]
    out['norm.weight'], out['norm.bias'] = torch.ones(dim), torch.zeros(dim)  # unused by MCTformer
    return {'model': out}


@pytest.mark.slow
def test_authors_drive_checkpoint_is_converted_on_load(cache, tmp_path, monkeypatch):
    """The real zoo entry: its Drive file (from the mirror) becomes a ready mmdoei model."""
    from mmdoei.apis import model_info
    info = model_info('mctformer-v2_deit-s_voc12aug_authors')
    assert info['Weights'] == 'https://drive.google.com/uc?export=download&id=1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB'
    ref = get_model('mctformer-v2_deit-s_voc12aug_authors')  # random weights, the entry's config
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    torch.save(_to_authors_mctformer(ref.state_dict()), mirror / 'gdrive_1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB.pth')
    monkeypatch.setenv('MMDOEI_MIRROR', str(mirror))
    model = get_model('mctformer-v2_deit-s_voc12aug_authors', pretrained=True)
    got, want = model.state_dict(), ref.state_dict()
    assert list(got) == list(want)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)


def test_drive_large_file_confirmation_form(trained_tiny, cache, servers, tmp_path, monkeypatch):
    served = tmp_path / 'drive'
    served.mkdir()
    shutil.copyfile(trained_tiny, served / 'FILEID123')
    base = servers.start(served, mode='drive')
    # 127.0.0.1 plays Drive, over http; the confirmation is followed on Drive hosts only
    monkeypatch.setattr(download, '_DRIVE_HOSTS', download._DRIVE_HOSTS + ('127.0.0.1', ))
    monkeypatch.setattr(download, '_DRIVE_CONFIRM_SCHEMES', ('http', 'https'))
    dst = download.download_to(f'{base}/uc?export=download&id=FILEID123', cache / 'gdrive_FILEID123.pth',
                               progress=False)
    assert dst.read_bytes() == trained_tiny.read_bytes()
    with pytest.raises(CheckpointDownloadError, match='HTTP 404'):
        download.download_to(f'{base}/uc?export=download&id=MISSING', cache / 'x.pth', progress=False)
    assert _files(cache) == ['gdrive_FILEID123.pth']
    # names and the older page form (a link with confirm=)
    assert file_name_for('https://drive.google.com/file/d/1-vnpvqtSG4WaLiR9uqLKrBU8wDeIjvqO/view?usp=sharing') \
        == 'gdrive_1-vnpvqtSG4WaLiR9uqLKrBU8wDeIjvqO.pth'
    assert hash_prefix_of('gdrive_1-vnpvqtSG4WaLiR9uqLKrBU8wDeIjvqO.pth') is None
    assert hash_prefix_of('deit_small_patch16_224-cd65a155.pth') == 'cd65a155'
    page = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=AbCd&amp;id=XYZ">Download</a>'
    assert confirm_url_from_html(page, 'https://drive.google.com/uc?export=download&id=XYZ') == \
        'https://drive.google.com/uc?export=download&confirm=AbCd&id=XYZ'


def test_drive_confirmation_to_another_host_is_refused(trained_tiny, cache, servers, tmp_path, monkeypatch):
    """Drive's page is followed only to a Drive host, over https (here: 127.0.0.1 plays Drive)."""
    served = tmp_path / 'drive'
    served.mkdir()
    shutil.copyfile(trained_tiny, served / 'FILEID123')
    base = servers.start(served, mode='drive')
    url = f'{base}/uc?export=download&id=FILEID123'
    monkeypatch.setattr(download, '_DRIVE_HOSTS', ('127.0.0.1', ))
    with pytest.raises(CheckpointDownloadError) as e:  # the page's form is http: not Drive's https
        download.download_to(url, cache / 'gdrive_FILEID123.pth', progress=False)
    assert f'cannot download {url} as gdrive_FILEID123.pth into {cache}: the page {url} submits to ' \
        f'{base}/download?id=FILEID123&export=download&confirm=t&uuid=4a7e-11, not to https on a Google Drive ' \
        'host; refused; nothing was kept' == str(e.value)
    monkeypatch.setattr(download, '_DRIVE_CONFIRM_SCHEMES', ('http', 'https'))
    port = base.rsplit(':', 1)[1]  # a Drive URL whose page submits to another host
    with pytest.raises(CheckpointDownloadError, match=f'submits to http://localhost:{port}/download.*, not to '
                       'https on a Google Drive host; refused'):
        download.download_to(f'{url}&form_host=localhost:{port}', cache / 'gdrive_FILEID123.pth', progress=False)
    monkeypatch.setattr(download, '_DRIVE_HOSTS', ())  # not a Drive URL: no page is followed
    with pytest.raises(CheckpointDownloadError, match='answered with an HTML page, not a checkpoint'):
        download.download_to(url, cache / 'gdrive_FILEID123.pth', progress=False)
    assert _files(cache) == []


@pytest.mark.parametrize('url, name', [
    ('https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth', 'deit_small_patch16_224-cd65a155.pth'),
    ('https://drive.google.com/uc?export=download&id=1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB',
     'gdrive_1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB.pth'),
])
def test_hash_checked_names_are_torch_hubs(url, name):
    """Names whose content is checked (a sha256 prefix, a real Drive id) are the cache and the mirror name."""
    assert file_name_for(url) == name
    assert download.mirror_name_for(url) == name


@pytest.mark.parametrize('url, plain', [
    ('https://x/a/epoch_2.pth?x=1', 'epoch_2.pth'),
    ('https://github.com/mmdoei/mmdoei/releases/download/v0.1.0/mctformer-v2_vit-6l128_synthvoc_demo.pth',
     'mctformer-v2_vit-6l128_synthvoc_demo.pth'),
    ('http://127.0.0.1:8765/gdrive_1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB.pth',
     'gdrive_1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB.pth'),
    ('http://h/model', 'model'),
])
def test_unchecked_names_are_cached_under_a_hash_of_the_url(url, plain):
    """Any other name is unique to its URL in the cache; the mirror keeps the plain name (hole 2)."""
    stem, ext = os.path.splitext(plain)
    assert file_name_for(url) == f'{stem}_{hashlib.sha256(url.encode()).hexdigest()[:16]}{ext}'
    assert download.mirror_name_for(url) == plain
    assert hash_prefix_of(file_name_for(url)) is None


@pytest.mark.parametrize('url, start, end', [
    ('http://h/%2Fusr%2Flib%2Fpython3.11%2Fsite-packages%2Fx.pth', 'usr_lib_python3_11_site-packages_x_', '.pth'),
    ('http://h/..%2F..%2Fx-cd65a155.pth', 'x_', '-cd65a155.pth'),
    ('http://h/a%2F..%2F..%2Fb.pth', 'a_b_', '.pth'),
    ('http://h/..', None, None),
    ('http://h/.hidden.pth', 'hidden_', '.pth'),
    ('http://h/x%0Ay%00.pth', 'x_y_', '.pth'),
    ('http://h/' + 'a' * 300 + '.pth', 'a' * 64 + '_', '.pth'),
    ('https://drive.google.com/uc?id=..%2F..%2Fevil', 'gdrive_evil_', '.pth'),
])
def test_unsafe_names_are_rebuilt_with_a_hash_of_the_url(url, start, end):
    """No separator, no '..', no leading dot, no control character, at most 163 characters (finding 1)."""
    import re
    if start is None:
        with pytest.raises(ValueError, match=re.escape(f'{url}: the URL names no file')):
            file_name_for(url)
        return
    name = file_name_for(url)
    url_hash = hashlib.sha256(url.encode()).hexdigest()[:16]
    assert name == f'{start}{url_hash}{end}'
    assert re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_+.-]*', name) and '..' not in name and len(name) <= 163
    assert hash_prefix_of(name) == hash_prefix_of(end)  # a hash suffix is still checked
    if url.startswith('http://h/'):  # the same name from another URL is another cache entry
        assert file_name_for(url.replace('http://h/', 'http://g/')) != name


def test_cache_or_mirror_symlink_pointing_out_is_refused(trained_tiny, cache, tmp_path, monkeypatch):
    """A symlink in the cache (or the mirror folder) to a file elsewhere is not read (finding 1)."""
    elsewhere = _hashed(trained_tiny, tmp_path / 'elsewhere')
    cache.mkdir(parents=True)
    (cache / elsewhere.name).symlink_to(elsewhere)
    url = f'http://127.0.0.1:9/r/{elsewhere.name}'  # never requested
    with pytest.raises(CheckpointDownloadError) as e:
        download.fetch_checkpoint(url)
    assert str(e.value) == (f'{url}: its cache file {cache / elsewhere.name} resolves to {elsewhere}, outside the '
                            f'cache folder {cache} (a symlink pointing out?); refused, nothing was read or written '
                            'there')
    (cache / elsewhere.name).unlink()
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    (mirror / elsewhere.name).symlink_to(elsewhere)
    monkeypatch.setenv('MMDOEI_MIRROR', str(mirror))
    with pytest.raises(CheckpointDownloadError, match=f'its mirror file {mirror / elsewhere.name} resolves to '
                       f'{elsewhere}, outside the mirror folder {mirror}'):
        download.fetch_checkpoint(url)
    assert _files(cache) == []


def test_one_rank_per_node_downloads(trained_tiny, cache, servers, tmp_path, monkeypatch):
    """Local rank 0 downloads before the barrier; the others read the cache after it."""
    import mmengine.dist
    served = tmp_path / 'served'
    good = _hashed(trained_tiny, served)
    url = servers.start(served) + '/' + good.name
    events = []
    monkeypatch.setattr(torch.distributed, 'barrier', lambda *a, **k: events.append(('barrier', _files(cache))))
    monkeypatch.setattr(mmengine.dist, 'get_dist_info', lambda: (1, 2))
    monkeypatch.setenv('LOCAL_RANK', '1')
    with pytest.raises(CheckpointDownloadError, match='local rank 0 of this node did not download it'):
        download.load_from_safe_http(url)
    assert events == [('barrier', [])] and _files(cache) == []  # rank 1 never downloads
    events.clear()
    monkeypatch.setenv('LOCAL_RANK', '0')
    download.load_from_safe_http(url)
    assert events == [('barrier', [good.name])]  # the file was complete before the others went on
    events.clear()
    monkeypatch.setenv('LOCAL_RANK', '1')
    assert sorted(download.load_from_safe_http(url)) == sorted(torch.load(good, weights_only=True))


@pytest.mark.slow
def test_safe_loader_is_registered_when_mmdoei_is_imported():
    code = ('import mmdoei, mmengine.runner.checkpoint as c; '
            'print(c.CheckpointLoader._get_checkpoint_loader("https://x/y-12345678.pth").__name__, '
            'c.CheckpointLoader._get_checkpoint_loader("http://x/y.pth").__name__, c.load_from_http.__name__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ['load_from_safe_http'] * 3, out.stderr


@pytest.mark.parametrize('text, reason', [
    ('Weights only load failed. This file can still be loaded, to do so you have two options, do those steps only if '
     'you trust the source of the checkpoint. \n\t(1) In PyTorch 2.6, we changed the default value of the '
     '`weights_only` argument in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set '
     'to `False` will likely succeed, but it can result in arbitrary code execution. Do it only if you got the file '
     'from a trusted source.\n\t(2) Alternatively, to load with `weights_only=True` please check the recommended '
     'steps in the following error message.\n\tWeightsUnpickler error: Unsupported global: GLOBAL posix.system was '
     'not an allowed global by default. Please use `torch.serialization.add_safe_globals([posix.system])` or the '
     '`torch.serialization.safe_globals([posix.system])` context manager to allowlist this global if you trust this '
     'global.\n\nCheck the documentation of torch.load to learn more about types accepted by default with '
     'weights_only https://pytorch.org/docs/stable/generated/torch.load.html.',
     'UnpicklingError: Unsupported global: GLOBAL posix.system was not an allowed global by default.'),
    ('Cannot use ``weights_only=True`` with files saved in the legacy .tar format. In PyTorch 2.6, we changed the '
     'default value of the `weights_only` argument in `torch.load` from `False` to `True`. Re-running `torch.load` '
     'with `weights_only` set to `False` will likely succeed, but it can result in arbitrary code execution. Do it '
     'only if you got the file from a trusted source.',
     'UnpicklingError: Cannot use ``weights_only=True`` with files saved in the legacy .tar format.'),
    ('', 'UnpicklingError (the file is empty or ends early)'),
])
def test_torch_reason_drops_the_advice_to_unpickle_in_full(text, reason):
    """torch 2.6-2.8's and today's texts: the reason stays, the advice goes (finding 8)."""
    import pickle
    assert download.torch_reason(pickle.UnpicklingError(text)) == reason


@pytest.mark.parametrize('var', ['MMDOEI_MAX_DOWNLOAD_MB', 'MMDOEI_DOWNLOAD_DEADLINE', 'MMDOEI_DOWNLOAD_TIMEOUT'])
def test_a_bad_limit_is_named_before_any_request(var, cache, monkeypatch):
    monkeypatch.setenv(var, 'lots')
    with pytest.raises(ValueError) as e:
        download.download_to('http://127.0.0.1:9/x.pth', cache / 'x.pth', progress=False)
    assert str(e.value) == f"${var}='lots': expected a positive number"
    assert _files(cache) == []
