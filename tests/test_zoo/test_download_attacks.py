"""A hostile download server against a user's fresh interpreter (issue 21, findings 1, 3, 4, 6b, 8;
planted lock files and cache poisoning by file name).

One subprocess runs every scenario as a user would (``import mmdoei``, then
``get_model``, ``CheckpointLoader.load_checkpoint``, ``tools/test.py``)
against ``http_server.py hostile`` on 127.0.0.1, and prints a JSON of
outcomes; each test asserts on its own scenario. The subprocess runs in a
private user and mount namespace (as tests/test_reliability/test_hostile_inputs.py)
with ``$TORCH_HOME`` a 128 MB tmpfs, so the free-space check meets a real
small disk. Each scenario has 30 s (SIGALRM), so the code before the fix,
which downloads forever from a dripping server, fails instead of hanging.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from mmdoei.utils.download import file_name_for
from .conftest import ROOT, TINY_CONFIG, Servers

pytestmark = pytest.mark.slow  # one fresh interpreter (import mmdoei) for the whole module

SCRIPT = textwrap.dedent(r'''
    import ctypes, json, os, runpy, signal, sys, time, traceback
    base, torch_home, outside, voc, work = sys.argv[1:]
    os.environ['TORCH_HOME'] = torch_home
    os.environ.pop('MMDOEI_MIRROR', None)
    os.environ['MMDOEI_DOWNLOAD_TIMEOUT'] = '1'
    import mmdoei  # noqa: registers the http(s) loader, as for any user
    from mmengine.runner import CheckpointLoader
    from mmdoei.apis import get_model
    from mmdoei.utils.download import file_name_for
    cache = os.path.join(torch_home, 'hub', 'checkpoints')
    results = {}

    def listing():
        return sorted(os.listdir(cache)) if os.path.isdir(cache) else []

    def alarm(*_):
        raise TimeoutError('scenario still running after 30 s')

    signal.signal(signal.SIGALRM, alarm)

    def run(name, fn, env=()):
        saved = {k: os.environ.get(k) for k, _ in env}
        os.environ.update(dict(env))
        start = time.monotonic()
        signal.alarm(30)
        try:
            value = fn()
            out = dict(ok=True, value=value if isinstance(value, (str, int, list, dict)) else repr(type(value)))
        except BaseException as e:  # SystemExit of the tool included: the outcome is what is tested
            out = dict(ok=False, type=type(e).__name__, error=str(e), tb=traceback.format_exc()[-3000:])
        finally:
            signal.alarm(0)
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        out['seconds'] = time.monotonic() - start
        out['cache'] = listing()
        results[name] = out

    def load(url):
        ckpt = CheckpointLoader.load_checkpoint(url, map_location='cpu')
        return sorted(ckpt)

    def esc(path):  # an absolute path as one percent-encoded URL path segment
        return path.replace('/', '%2F')

    # Two "nodes" (two pid namespaces) share the cache and load one URL from a slow server.
    def concurrent():
        url = base + '/slow/shared-model.pth'
        report = os.path.join(work, 'other_node.json')
        pid = os.fork()
        if pid == 0:  # the other node: a process in a new pid namespace
            code = 1
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.unshare(0x20000000) != 0:  # CLONE_NEWPID: its children live in a new one
                    raise OSError(ctypes.get_errno(), 'unshare')
                inner = os.fork()
                if inner == 0:
                    signal.alarm(30)
                    time.sleep(0.8)  # the first node's download is under way
                    try:
                        res = dict(ok=True, pid=os.getpid(), value=load(url))
                    except BaseException as e:
                        res = dict(ok=False, pid=os.getpid(), error=f'{type(e).__name__}: {e}')
                    with open(report, 'w') as f:
                        json.dump(res, f)
                    os._exit(0)
                code = os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1])
            finally:
                os._exit(code)
        try:
            mine = load(url)
        finally:
            os.waitpid(pid, 0)
        with open(report) as f:
            return dict(first=mine, other=json.load(f))

    run('concurrent', concurrent)
    # good.pth does not fit the model, so get_model refuses it after the download; what is tested
    # is where the download is written
    run('get_model_abs', lambda: repr(type(get_model(
        'mctformer-v2_vit-6l128_synthvoc_demo', pretrained=base + '/ckpt/' + esc(outside + '/via_get_model.pth')))))
    run('get_model_rel', lambda: repr(type(get_model(
        'mctformer-v2_vit-6l128_synthvoc_demo', pretrained=base + '/ckpt/..%2F..%2F..%2Fescaped_rel.pth'))))
    run('loader_dotdot', lambda: load(base + '/ckpt/' + esc(outside + '/../escaped_loader.pth')))
    run('html_file', lambda: load(base + '/html-file/stolen-file.pth'))
    run('html_form', lambda: load(base + '/html-form/stolen-form.pth'))
    run('html_plain', lambda: load(base + '/html-plain/page.pth'))
    run('redirect_file', lambda: load(base + '/redirect-file/r.pth'))
    run('redirect_ftp', lambda: load(base + '/redirect-ftp/r.pth'))
    run('loop', lambda: load(base + '/loop/0/l.pth'))
    run('endless', lambda: load(base + '/endless/endless.pth'), env=[('MMDOEI_MAX_DOWNLOAD_MB', '1')])
    run('huge', lambda: load(base + '/huge/huge.pth'), env=[('MMDOEI_MAX_DOWNLOAD_MB', '1')])
    run('drip', lambda: load(base + '/drip/drip.pth'), env=[('MMDOEI_DOWNLOAD_DEADLINE', '2')])
    run('free_space', lambda: load(base + '/big/big.pth'))
    run('truncated', lambda: load(base + '/truncated/trunc-model.pth'))
    run('truncated_again', lambda: load(base + '/truncated/trunc-model.pth'))
    run('junk', lambda: load(base + '/junk/junk-model.pth'))
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, file_name_for(base + '/ckpt/handplaced-model.pth')), 'wb') as f:
        f.write(b'PK\x03\x04 half a zip')
    run('cached_broken', lambda: load(base + '/ckpt/handplaced-model.pth'))
    import urllib.request
    with open(os.path.join(work, 'counts.json'), 'w') as f:
        f.write(urllib.request.urlopen(base + '/count').read().decode())

    def tensors(url):  # the names of the tensors a URL loads as
        ckpt = CheckpointLoader.load_checkpoint(url, map_location='cpu')
        return sorted(ckpt.get('state_dict') or ckpt['model'])

    # Planted lock files: a symlink to a file outside, a dangling one, a hard link (same tmpfs).
    hub = os.path.dirname(cache)
    planted = dict(lock_symlink=os.path.join(work, 'precious'), lock_dangling=os.path.join(work, 'ghost'),
                   lock_hardlink=os.path.join(hub, 'precious3'))
    for name, target in planted.items():
        if name != 'lock_dangling':
            with open(target, 'w') as f:
                f.write('precious\n')
        lock = os.path.join(cache, '.' + file_name_for(base + f'/ckpt/{name}.pth') + '.lock')
        (os.link if name == 'lock_hardlink' else os.symlink)(target, lock)
        run(name, lambda: load(base + f'/ckpt/{name}.pth'))
        results[name]['target'] = open(target).read() if os.path.exists(target) else None
        results[name]['lock'] = lock
    # Cache poisoning by name: the attacker's URL first, then the zoo entry (mirror: /right/ holds the real file).
    mirror = [('MMDOEI_MIRROR', base + '/right')]
    zoo_url = 'https://github.com/mmdoei/mmdoei/releases/download/v0.1.0/mctformer-v2_vit-6l128_synthvoc_demo.pth'
    drive_url = 'https://drive.google.com/uc?export=download&id=1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB'
    run('poison_zoo_step1', lambda: tensors(base + '/ckpt/mctformer-v2_vit-6l128_synthvoc_demo.pth?f=x'))
    run('poison_zoo_get_model', lambda: repr(type(get_model('mctformer-v2_vit-6l128_synthvoc_demo',
                                                            pretrained=True))))
    run('poison_zoo', lambda: tensors(zoo_url), env=mirror)
    run('poison_drive_step1', lambda: tensors(base + '/ckpt/gdrive_1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB.pth'))
    run('poison_drive', lambda: tensors(drive_url), env=mirror)
    results['names'] = dict(zoo=file_name_for(zoo_url), drive=file_name_for(drive_url))
    sys.argv = ['tools/test.py', os.environ['TINY_CONFIG'],
                base + '/junk/' + esc(outside + '/via_tools.pth'), '--data-root', voc, '--work-dir', work]
    run('tools', lambda: runpy.run_path('tools/test.py', run_name='__main__'))
    print('RESULTS ' + json.dumps(results))
''')


def _in_mount_namespace(mount_opts: str, script: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    """Run ``script`` with ``sys.argv[2]`` a fresh tmpfs mounted with ``mount_opts``
    (test_hostile_inputs.py's helper, with an environment)."""
    target = Path(args[1])
    target.mkdir(parents=True, exist_ok=True)
    cmd = ['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c',
           f'mount -t tmpfs -o {mount_opts} tmpfs "$1" && shift && exec "$@"', 'sh', str(target),
           sys.executable, '-c', script, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)


@pytest.fixture(scope='module')
def attack(tmp_path_factory, synthetic_voc):
    """Runs the scenarios once; returns (outcomes, tmp folder, outside folder, base URL, request counts)."""
    tmp = tmp_path_factory.mktemp('attack')
    served, outside, work = tmp / 'served', tmp / 'outside', tmp / 'work'
    for d in (served, outside, work):
        d.mkdir()
    torch.save({'state_dict': {'w': torch.arange(4.0)}, 'meta': {'epoch': 1}}, served / 'good.pth')
    torch.save({'state_dict': {'secret': torch.ones(2)}}, served / 'secret.pth')
    torch.save({'model': {'right_tensor': torch.full((3, ), 7.0)}}, served / 'right.pth')
    servers = Servers()
    base = servers.start(served, mode='hostile')
    try:
        env = dict(os.environ, TINY_CONFIG=TINY_CONFIG)
        res = _in_mount_namespace('size=128m', SCRIPT, base, str(tmp / 'th'), str(outside), str(synthetic_voc),
                                  str(work), env=env)
    finally:
        servers.stop()
    line = [x for x in res.stdout.splitlines() if x.startswith('RESULTS ')]
    assert line, res.stderr[-5000:]
    counts = json.loads((work / 'counts.json').read_text())
    return json.loads(line[0][len('RESULTS '):]), tmp, outside, base, counts


def _failed(outcome: dict, *fragments: str) -> str:
    """The error of a scenario that must fail, checked to name every fragment and no torch advice."""
    assert not outcome['ok'], outcome
    msg = outcome['error']
    for f in fragments:
        assert f in msg, (f, outcome)
    assert 'weights_only=False' not in msg and 'set to `False`' not in msg and 'add_safe_globals' not in msg
    return msg


def _entries(outcome: dict, stem: str) -> list:
    """The cache files (lock files aside) whose name holds ``stem``, after a scenario."""
    return [n for n in outcome['cache'] if stem in n and not n.endswith('.lock')]


def _written_outside(tmp: Path) -> list:
    """Files the scenarios left outside the served folder and the tool's work dir (the cache was a tmpfs)."""
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob('*')
                  if p.is_file() and not {'served', 'work'} & set(p.relative_to(tmp).parts[:1]))


def test_percent_encoded_names_stay_in_the_cache(attack):
    """%2F and ..%2F names through get_model, CheckpointLoader and tools/test.py write only into the cache."""
    out, tmp, outside, base, _ = attack
    assert _written_outside(tmp) == []
    for name in ('get_model_abs', 'get_model_rel'):
        _failed(out[name], 'does not fit MCTformerV2')  # downloaded, then refused as another model's
    assert out['loader_dotdot'] == dict(out['loader_dotdot'], ok=True, value=['meta', 'state_dict'])
    stems = {'via_get_model': 'get_model_abs', 'escaped_rel': 'get_model_rel', 'escaped_loader': 'loader_dotdot'}
    for stem, scenario in stems.items():
        (entry, ) = _entries(out['loader_dotdot'], stem)
        assert entry.endswith('.pth') and entry[0].isalnum() and '..' not in entry and entry.count('.') == 1
        assert entry in out[scenario]['cache']
    # the tool: the URL names a junk file; its error names the URL and nothing was kept
    url = base + '/junk/' + str(outside / 'via_tools.pth').replace('/', '%2F')
    _failed(out['tools'], url, 'not a checkpoint torch can load')
    assert _entries(out['tools'], 'via_tools') == []


def test_html_answers_are_not_followed(attack):
    out, tmp, _, base, counts = attack
    _failed(out['html_file'], f'{base}/html-file/stolen-file.pth', 'answered with an HTML page, not a checkpoint')
    _failed(out['html_form'], f'{base}/html-form/stolen-form.pth', 'answered with an HTML page')
    _failed(out['html_plain'], f'{base}/html-plain/page.pth', 'answered with an HTML page')
    assert counts['ckpt'] == 3  # the three name scenarios; the form's target was not requested
    for name, stem in [('html_file', 'stolen-file'), ('html_form', 'stolen-form'), ('html_plain', 'page')]:
        assert _entries(out[name], stem) == []


def test_redirects_only_to_http_and_at_most_five(attack):
    out, _, _, base, counts = attack
    _failed(out['redirect_file'], f'{base}/redirect-file/r.pth', 'which is not http(s); refused',
            'redirects to file://')
    _failed(out['redirect_ftp'], f'{base}/redirect-ftp/r.pth', 'which is not http(s); refused',
            'redirects to ftp://127.0.0.1')
    _failed(out['loop'], f'{base}/loop/0/l.pth', 'more than 5 redirects', f'to {base}/loop/6/l.pth')
    assert counts['loop'] == 6


def test_size_and_time_limits(attack):
    out, _, _, base, _ = attack
    _failed(out['endless'], f'{base}/endless/endless.pth', 'sent more than the limit of 1 MB (',
            'MMDOEI_MAX_DOWNLOAD_MB', 'nothing was kept', file_name_for(f'{base}/endless/endless.pth') + ' into ')
    _failed(out['huge'], f'{base}/huge/huge.pth', f'announces {3 << 30} bytes (Content-Length), more than the '
            'limit of 1 MB', 'refused before the body')
    assert out['huge']['seconds'] < 5  # refused from the header: the server sends nothing for 10 s
    _failed(out['drip'], f'{base}/drip/drip.pth', 'the download took longer than 2 s', 'MMDOEI_DOWNLOAD_DEADLINE')
    assert out['drip']['seconds'] < 10  # 1000 bytes at 0.3 s each would take 5 minutes
    msg = _failed(out['free_space'], f'{base}/big/big.pth', f'the file has {100 << 20} bytes but only ',
                  'refused before the body')
    free = int(msg.split('but only ')[1].split()[0])
    assert 127 << 20 < free <= 128 << 20  # the 128 MB tmpfs, nearly empty: 100 MB + 64 MB do not fit
    for name, stem in [('endless', 'endless'), ('huge', 'huge'), ('drip', 'drip'), ('free_space', 'big')]:
        assert _entries(out[name], stem) == []


def test_two_nodes_share_one_cache_entry(attack):
    """The second waits for the first's lock, then uses its file: one download, one file, no partials."""
    out, _, _, base, counts = attack
    res = out['concurrent']
    assert res['ok'], res
    assert res['value']['first'] == ['meta', 'state_dict']
    assert res['value']['other'] == dict(ok=True, pid=1, value=['meta', 'state_dict'])
    name = file_name_for(f'{base}/slow/shared-model.pth')
    assert res['cache'] == [f'.{name}.lock', name]
    assert counts['slow'] == 1


def test_broken_downloads_are_not_cached(attack):
    out, _, _, base, _ = attack
    for name in ('truncated', 'truncated_again'):
        _failed(out[name], f'{base}/truncated/trunc-model.pth',
                file_name_for(f'{base}/truncated/trunc-model.pth') + ' into ',
                'is not a checkpoint torch can load', 'nothing was kept')
        assert _entries(out[name], 'trunc-model') == []
    _failed(out['junk'], f'{base}/junk/junk-model.pth', 'is not a checkpoint torch can load')
    assert _entries(out['junk'], 'junk-model') == []
    assert [n for n in out['junk']['cache'] if n.endswith('.part')] == []


def test_a_broken_cached_file_is_named_with_the_fix(attack):
    out, tmp, _, base, _ = attack
    msg = _failed(out['cached_broken'], f'{base}/ckpt/handplaced-model.pth', 'the cached file ',
                  file_name_for(f'{base}/ckpt/handplaced-model.pth') + ' is not a checkpoint torch can load',
                  'delete it to download again')
    assert str(tmp / 'th' / 'hub' / 'checkpoints' / file_name_for(f'{base}/ckpt/handplaced-model.pth')) in msg


@pytest.mark.parametrize('name, kind', [('lock_symlink', 'a symbolic link'), ('lock_dangling', 'a symbolic link'),
                                        ('lock_hardlink', 'a hard link (2 names for one file)')])
def test_a_planted_lock_file_is_refused_and_its_target_untouched(attack, name, kind):
    """A lock file linked to a file outside the cache is never emptied, written or created through."""
    out, _, _, base, _ = attack
    url = f'{base}/ckpt/{name}.pth'
    _failed(out[name], f'the lock file {out[name]["lock"]} of the download of {url} into ', f'is {kind}; refused, '
            'nothing was written')
    assert out[name]['type'] == 'UnsafeLockFileError'
    assert out[name]['target'] == (None if name == 'lock_dangling' else 'precious\n')
    assert _entries(out[name], name) == []  # nothing was downloaded


def test_a_file_of_the_same_name_from_another_url_never_becomes_a_zoo_entry(attack):
    """The attacker's URL ends with a zoo file's name (or a Drive entry's cache name); the entry loads the
    right file or fails, never the attacker's tensors."""
    out, _, _, _, _ = attack
    assert out['poison_zoo_step1'] == dict(out['poison_zoo_step1'], ok=True, value=['w'])
    assert out['poison_drive_step1'] == dict(out['poison_drive_step1'], ok=True, value=['w'])
    # through the mirror: its plain file name, the real file (and the Drive entry's converter ran on that)
    assert out['poison_zoo'] == dict(out['poison_zoo'], ok=True, value=['right_tensor'])
    assert out['poison_drive'] == dict(out['poison_drive'], ok=True, value=['backbone.right_tensor'])
    # unpublished, no mirror: the error names the entry's own cache file, not the attacker's
    names = out['names']
    _failed(out['poison_zoo_get_model'], 'not live yet', f'hub/checkpoints/{names["zoo"]}',
            'MMDOEI_MIRROR to a base URL or a folder that holds mctformer-v2_vit-6l128_synthvoc_demo.pth')
    assert names['zoo'].startswith('mctformer-v2_vit-6l128_synthvoc_demo_') and names['drive'] == \
        'gdrive_1w5LDoS_CHtDRXgFSqFtPvIiCajk4ZtMB.pth'
    assert names['zoo'] in out['poison_zoo']['cache'] and names['drive'] in out['poison_drive']['cache']
