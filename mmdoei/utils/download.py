"""Safe checkpoint downloads: ``weights_only`` loading, hash checks, atomic files, a mirror.

mmengine 0.10.7 reads every ``http(s)://`` checkpoint (``init_cfg``,
``load_from``, ``--resume``, ``torchvision://``, ``open-mmlab://``) through
``torch.hub.load_state_dict_from_url`` with ``weights_only=False`` and no hash
check, so a file from the network can run code when it is unpickled. mmengine
has no option to change that, hence this module, registered for
``http://``/``https://`` in ``CheckpointLoader`` when mmdoei is imported
(:func:`register_safe_http_loader`). It only tightens loading:

- every file is read with ``weights_only=True`` and the same allow-list of
  globals as local mmengine checkpoints (:func:`mmdoei.utils.compat.checkpoint_safe_globals`);
- a file name with torch.hub's hash suffix (``name-<sha256 prefix>.ext``) is
  checked, after download and when found in the cache; a mismatch deletes the
  file and raises :class:`CheckpointHashError`;
- a download goes to a temporary file next to the cache entry and is renamed
  only when complete and verified; a short read (a server that stops mid-file)
  is detected against ``Content-Length``;
- in distributed runs only local rank 0 of each node downloads, the others
  wait at a barrier and read the cached file (as mmengine does);
- ``$MMDOEI_MIRROR`` (a base URL or a local folder) replaces the download
  hosts, for clusters without internet: a URL's file is looked up there under
  its cache file name;
- Google Drive's direct-download form (``https://drive.google.com/uc?export=download&id=ID``)
  is followed through its confirmation page for large files;
- without network, the error names the URL, the file name, its sha256 prefix
  and the cache path where the file can be placed by hand.

Cache: ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME``), the folder
mmengine and torch.hub use, so files they downloaded before are reused (and
verified). Written by hand with ``urllib`` because torch.hub's
``download_url_to_file`` neither detects a short read nor follows Drive's
confirmation form, and mmengine/timm have nothing for either.
"""
import contextlib
import hashlib
import html.parser
import http.client
import os
import pickle
import re
import socket
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch

MIRROR_ENV = 'MMDOEI_MIRROR'
#: torch.hub's naming convention, ``name-<first 8+ hex digits of the sha256>.ext``.
HASH_REGEX = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')
_DRIVE_HOSTS = ('drive.google.com', 'docs.google.com', 'drive.usercontent.google.com')
_CHUNK = 1 << 20
_TIMEOUT = float(os.environ.get('MMDOEI_DOWNLOAD_TIMEOUT', 60))

# URL -> (converter name, function): files that are not in mmdoei's format and are
# converted on load (the authors' releases); filled by mmdoei.apis.hub from the metafiles.
_CONVERTERS: Dict[str, Tuple[str, Callable[[Mapping], Mapping]]] = {}
# URLs named by the model zoo whose host does not serve them yet (no release made):
# they resolve only through the mirror or the cache, never by a network attempt.
_UNPUBLISHED: Dict[str, str] = {}


class CheckpointDownloadError(RuntimeError):
    """A checkpoint could not be fetched; the message says where to put it by hand."""


class CheckpointHashError(RuntimeError):
    """A file's sha256 does not start with the prefix in its name (or the pinned one)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A downloaded checkpoint needs globals that ``weights_only=True`` does not allow."""


def cache_dir() -> Path:
    """Where downloaded checkpoints live: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / 'checkpoints'


def is_drive_url(url: str) -> bool:
    """True for Google Drive URLs (``drive.google.com/uc?...id=`` or ``/file/d/ID``)."""
    return urllib.parse.urlparse(url).hostname in _DRIVE_HOSTS


def drive_file_id(url: str) -> Optional[str]:
    """The file id of a Drive URL (``?id=ID`` or ``/file/d/ID/...``), else ``None``."""
    parts = urllib.parse.urlparse(url)
    ids = urllib.parse.parse_qs(parts.query).get('id')
    if ids:
        return ids[0]
    m = re.search(r'/file/d/([^/]+)', parts.path)
    return m.group(1) if m else None


def drive_download_url(file_id: str) -> str:
    """Drive's direct-download form of a file id."""
    return f'https://drive.google.com/uc?export=download&id={file_id}'


def file_name_for(url: str) -> str:
    """The cache (and mirror) file name of a URL: its last path part; ``gdrive_<id>.pth`` for Drive."""
    if is_drive_url(url):
        file_id = drive_file_id(url)
        if not file_id:
            raise ValueError(f'{url}: a Google Drive URL without a file id')
        return f'gdrive_{file_id}.pth'
    name = urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path))
    if not name or name in ('.', '..'):
        raise ValueError(f'{url}: the URL names no file')
    return name


def hash_prefix_of(file_name: str) -> Optional[str]:
    """The sha256 prefix in a ``name-<hash>.ext`` file name, or ``None``."""
    m = HASH_REGEX.search(file_name)
    return m.group(1) if m else None


def sha256_of(path: os.PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            h.update(chunk)
    return h.hexdigest()


def register_converter(url: str, name: str, fn: Callable[[Mapping], Mapping]) -> None:
    """Convert the file at ``url`` with ``fn`` whenever it is loaded through ``CheckpointLoader``."""
    _CONVERTERS[url] = (name, fn)


def mark_unpublished(url: str, note: str) -> None:
    """Never try ``url`` on the network (its release does not exist yet); ``note`` says why."""
    _UNPUBLISHED[url] = note


def _mirror() -> Optional[str]:
    return os.environ.get(MIRROR_ENV) or None


def _check_hash(path: Path, expected: Optional[str], url: str) -> None:
    """Delete ``path`` and raise if its sha256 does not start with ``expected``."""
    if not expected:
        return
    actual = sha256_of(path)
    if not actual.startswith(expected.lower()):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise CheckpointHashError(
            f'{url}: sha256 mismatch, expected {expected}..., got {actual}; the file was deleted '
            f'(a corrupt or tampered download, or a wrong mirror file)')


def _remove_stale_partials(dst: Path) -> None:
    """Drop the partial files of ``dst`` left by downloads whose process is gone (killed)."""
    for part in dst.parent.glob(f'.{dst.name}.*.part'):
        m = re.match(rf'\.{re.escape(dst.name)}\.(\d+)\.', part.name)
        pid = int(m.group(1)) if m else None
        alive = False
        if pid is not None and pid != os.getpid():
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if not alive:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()


class _DriveFormParser(html.parser.HTMLParser):
    """Finds Drive's "download anyway" target in its large-file warning page.

    The page holds a ``<form action=".../download">`` with hidden inputs (``id``,
    ``export``, ``confirm``, ``uuid``); older pages had a link with ``confirm=``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.forms = []  # (action, {name: value})
        self.links = []
        self._form = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'form':
            self._form = (a.get('action') or '', {})
            self.forms.append(self._form)
        elif tag == 'input' and self._form is not None and a.get('name'):
            self._form[1][a['name']] = a.get('value') or ''
        elif tag == 'a' and 'confirm=' in (a.get('href') or ''):
            self.links.append(a['href'])

    def handle_endtag(self, tag):
        if tag == 'form':
            self._form = None


def confirm_url_from_html(page: str, base_url: str) -> Optional[str]:
    """The URL Drive's large-file warning page submits to download the file anyway."""
    parser = _DriveFormParser()
    parser.feed(page)
    for action, fields in parser.forms:
        if 'confirm' in fields or 'download' in action:
            target = urllib.parse.urljoin(base_url, action)
            return target + ('&' if '?' in target else '?') + urllib.parse.urlencode(fields)
    if parser.links:
        return urllib.parse.urljoin(base_url, html.unescape(parser.links[0]))
    return None


def _offline_error(url: str, dst: Path, expected: Optional[str], reason: str) -> CheckpointDownloadError:
    sha = f'sha256 starting {expected}' if expected else 'sha256 not known (no hash in its name)'
    return CheckpointDownloadError(
        f'cannot download {url}: {reason}. Place the file {dst.name} ({sha}) by hand at {dst}, '
        f'or set {MIRROR_ENV} to a base URL or a folder that holds {dst.name}')


def _open(url: str):
    req = urllib.request.Request(url, headers={'User-Agent': 'mmdoei'})
    return urllib.request.urlopen(req, timeout=_TIMEOUT)


def download_to(url: str, dst: os.PathLike, expected_hash: Optional[str] = None,
                source: Optional[str] = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dst`` atomically, verifying ``expected_hash`` (a sha256 prefix).

    The data goes to ``.{name}.{pid}.part`` next to ``dst`` and is renamed onto
    ``dst`` only after all ``Content-Length`` bytes arrived and the hash
    matched; on any failure the partial file is removed. An HTML answer is
    taken as Drive's large-file warning and its confirmation form is followed
    (a checkpoint is never HTML).

    Args:
        url: Where to download from (the mirror's URL when one is used).
        dst: The cache file.
        expected_hash: sha256 prefix the file must have.
        source: The URL named in errors (the original one when ``url`` is a mirror's).
        progress: Print a line to stderr when done.

    Raises:
        CheckpointDownloadError: no connection, an HTTP error, a short read, or
            an HTML page without a download form.
        CheckpointHashError: the file's sha256 does not match.
    """
    dst = Path(dst)
    source = source or url
    dst.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(dst)
    fd, tmp = tempfile.mkstemp(prefix=f'.{dst.name}.{os.getpid()}.', suffix='.part', dir=dst.parent)
    tmp = Path(tmp)
    try:
        with os.fdopen(fd, 'wb') as out:
            target = url
            for _ in range(3):  # the file, or Drive's warning page and then the file
                try:
                    resp = _open(target)
                except urllib.error.HTTPError as e:
                    raise CheckpointDownloadError(f'cannot download {source}: HTTP {e.code} {e.reason} '
                                                  f'from {target}') from e
                except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
                    reason = getattr(e, 'reason', e)
                    raise _offline_error(source, dst, expected_hash, f'no connection ({reason})') from e
                with resp:
                    ctype = resp.headers.get('Content-Type', '')
                    if ctype.startswith('text/html'):
                        page = resp.read(1 << 20).decode('utf-8', 'replace')
                        nxt = confirm_url_from_html(page, resp.geturl())
                        if nxt is None:
                            raise CheckpointDownloadError(
                                f'{source}: the server sent an HTML page, not a checkpoint, and it has no '
                                'download form (a Drive file that is not shared publicly, or over its quota?)')
                        target = nxt
                        continue
                    total = resp.headers.get('Content-Length')
                    total = int(total) if total is not None else None
                    h = hashlib.sha256()
                    got = 0
                    try:
                        while True:
                            chunk = resp.read(_CHUNK)
                            if not chunk:
                                break
                            out.write(chunk)
                            h.update(chunk)
                            got += len(chunk)
                    except (OSError, http.client.HTTPException) as e:  # a reset, a timeout, IncompleteRead
                        raise CheckpointDownloadError(
                            f'{source}: the download stopped after {got} bytes ({e}); nothing was kept, '
                            'run again to restart it') from e
                    if total is not None and got != total:
                        raise CheckpointDownloadError(
                            f'{source}: the download stopped after {got} of {total} bytes; nothing was '
                            'kept, run again to restart it')
                    if got == 0:
                        raise CheckpointDownloadError(f'{source}: the server sent an empty file')
                    break
            else:
                raise CheckpointDownloadError(f'{source}: Drive kept answering with HTML pages')
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if expected_hash and not actual.startswith(expected_hash.lower()):
            raise CheckpointHashError(
                f'{source}: sha256 mismatch, expected {expected_hash}..., got {actual}; the download '
                f'was deleted and nothing was written to {dst.parent}')
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dst)
        if progress:
            print(f'[mmdoei] downloaded {source} -> {dst} ({got} bytes, sha256 {actual[:12]}...)',
                  file=sys.stderr)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dst


def fetch_checkpoint(url: str, sha256: Optional[str] = None, download: bool = True,
                     progress: bool = True) -> Path:
    """A local, verified copy of the checkpoint at ``url`` (downloaded if needed).

    Looked up, in order: the cache; the mirror folder (used in place); the
    mirror URL or ``url`` itself (downloaded into the cache). A zoo URL whose
    release does not exist yet is never requested from its host.

    Args:
        url: ``http(s)://`` URL.
        sha256: A pinned sha256 (prefix) for files without one in their name.
        download: If False, fail instead of downloading (used by the ranks that
            wait for local rank 0).
        progress: Report a download on stderr.

    Raises:
        CheckpointHashError, CheckpointDownloadError.
    """
    name = file_name_for(url)
    expected = sha256 or hash_prefix_of(name)
    dst = cache_dir() / name
    if dst.is_file():
        _check_hash(dst, expected, f'{url} (cached at {dst})')
        return dst
    mirror = _mirror()
    if mirror and not re.match(r'^https?://', mirror):
        local = Path(mirror).expanduser() / name
        if local.is_file():
            _check_hash_readonly(local, expected, url)
            return local
        if url in _UNPUBLISHED:
            raise _offline_error(url, dst, expected, f'not in the mirror folder {mirror}; '
                                 + _UNPUBLISHED[url])
    if not download:
        raise _offline_error(url, dst, expected, 'local rank 0 of this node did not download it')
    if mirror and re.match(r'^https?://', mirror):
        return download_to(mirror.rstrip('/') + '/' + urllib.parse.quote(name), dst, expected, source=url,
                           progress=progress)
    if url in _UNPUBLISHED:
        raise _offline_error(url, dst, expected, _UNPUBLISHED[url])
    target = drive_download_url(drive_file_id(url)) if is_drive_url(url) else url
    return download_to(target, dst, expected, source=url, progress=progress)


def _check_hash_readonly(path: Path, expected: Optional[str], url: str) -> None:
    """As :func:`_check_hash` for a mirror folder's file, which is not ours to delete."""
    if expected:
        actual = sha256_of(path)
        if not actual.startswith(expected.lower()):
            raise CheckpointHashError(f'{url}: the mirror file {path} has sha256 {actual}, expected '
                                      f'{expected}...')


def safe_torch_load(path: os.PathLike, map_location=None, source: Optional[str] = None):
    """``torch.load(weights_only=True)`` with mmengine's checkpoint globals allowed, nothing else.

    Raises:
        UnsafeCheckpointError: naming ``source`` (or the path) when the file needs
            any other global (a pickled callable, a custom class).
    """
    from .compat import checkpoint_safe_globals

    # Only those not allowed yet: leaving safe_globals removes its entries again, even
    # ones that were allowed before it (compat.apply adds them for good).
    allowed = torch.serialization.get_safe_globals()
    extra = [g for g in checkpoint_safe_globals() if g not in allowed]
    try:
        with torch.serialization.safe_globals(extra):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        where = f'{source} (file {path})' if source else str(path)
        raise UnsafeCheckpointError(
            f'{where}: refused to load, the checkpoint asks for objects that weights_only=True does not '
            f'allow, so it could run code when unpickled. Nothing from it was executed. ({e})') from e


def load_from_safe_http(filename: str, map_location=None, model_dir: Optional[str] = None,
                        progress: bool = True):
    """``CheckpointLoader`` scheme for ``http(s)://``: fetch (one rank per node), verify, safe-load, convert.

    Replaces mmengine's ``load_from_http`` (same signature; ``model_dir`` is
    accepted for compatibility and ignored: the cache is torch.hub's).
    """
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    path, error = None, None
    if local_rank == 0:
        try:
            path = fetch_checkpoint(filename, progress=progress)
        except Exception as e:  # reach the barrier anyway, then raise
            error = e
    if world_size > 1:
        torch.distributed.barrier()
    if error is not None:
        raise error
    if local_rank > 0:
        path = fetch_checkpoint(filename, download=False)
    ckpt = safe_torch_load(path, map_location=map_location, source=filename)
    if filename in _CONVERTERS:
        conv_name, fn = _CONVERTERS[filename]
        ckpt = dict(state_dict=fn(ckpt), meta=dict(converted_from=filename, converter=conv_name))
    return ckpt


def register_safe_http_loader() -> None:
    """Make :func:`load_from_safe_http` mmengine's loader for every ``http(s)://`` checkpoint.

    Registered as the ``CheckpointLoader`` scheme, and also bound as
    ``mmengine.runner.checkpoint.load_from_http``, which mmengine's
    ``torchvision://``, ``open-mmlab://`` and ``mmcls://`` loaders call directly.
    Idempotent.
    """
    import mmengine.runner.checkpoint as mm_ckpt
    mm_ckpt.CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_safe_http,
                                             force=True)
    mm_ckpt.load_from_http = load_from_safe_http
