"""Safe checkpoint downloads: ``weights_only`` loading, hash checks, atomic files, a mirror.

mmengine 0.10.7 reads every ``http(s)://`` checkpoint (``init_cfg``,
``load_from``, ``--resume``, ``torchvision://``, ``open-mmlab://``) through
``torch.hub.load_state_dict_from_url`` with ``weights_only=False`` and no hash
check, so a file from the network can run code when it is unpickled. mmengine
has no option to change that, hence this module, registered for
``http://``/``https://`` in ``CheckpointLoader`` when mmdoei is imported
(:func:`register_safe_http_loader`). What it guarantees, whatever the server
or the URL:

- Loading: every file is read with ``weights_only=True`` and the same
  allow-list of globals as local mmengine checkpoints
  (:func:`mmdoei.utils.compat.checkpoint_safe_globals`); no message of ours
  repeats torch's advice to load with full unpickling.
- Where it is written: one cache file name per URL (:func:`file_name_for`),
  made of letters, digits and ``._+-`` only, never starting with a dot, never
  holding ``..``, at most 163 characters. Only names checked by their content
  are shared between URLs: torch.hub's ``name-<sha256 prefix>.ext`` (so
  existing caches and hash checks keep working) and ``gdrive_<id>.pth`` of a
  real Drive URL; any other name gets a hash of the full URL, so a file from
  another host with the same name never takes a zoo entry's place. The cache
  file (and a mirror folder's file) must resolve inside its folder: a symlink
  pointing out is refused.
- What is followed: only ``http``/``https``, in the first request and in every
  redirect (at most 5); ``file:``, ``ftp:``, ``data:`` are refused. An HTML
  answer is an error, except Google Drive's large-file warning for a Drive URL,
  whose confirmation is followed only to ``https`` on a Drive host.
- How much: at most ``$MMDOEI_MAX_DOWNLOAD_MB`` (default 2048 MB; the zoo's
  largest file is a few hundred MB) per file, refused from ``Content-Length``
  before the body and counted during it; at most ``$MMDOEI_DOWNLOAD_DEADLINE``
  seconds per download (default 3 h), checked between reads that each time
  out after ``$MMDOEI_DOWNLOAD_TIMEOUT`` s (default 60), so a server that
  drips bytes is cut; the announced size must fit in the cache's free space
  (plus 64 MB) before the body is read.
- What is kept: a download goes to ``.{name}.{pid}.*.part`` next to the cache
  entry and is renamed onto it only when complete (a short read against
  ``Content-Length`` is detected), its sha256 matches the prefix in its name
  (or the pinned one) and it loads as above; anything else is deleted and
  the error names the URL, the file name and the cache path. A cached file
  that does not load gives an error that names it and says to delete it.
- Who writes: one process per cache entry, under an ``flock`` on
  ``.{name}.lock`` in the cache (:func:`mmdoei.utils.locks.exclusive`), so
  processes or nodes sharing a cache wait for each other and then use the
  finished file; only the lock holder removes partial files of that entry.
  In distributed runs only local rank 0 of each node downloads, the others
  wait at a barrier and read the cached file (as mmengine does).
- ``$MMDOEI_MIRROR`` (a base URL or a local folder) replaces the download
  hosts, for clusters without internet: a URL's file is looked up there under
  its plain file name (:func:`mirror_name_for`). Without network, the error
  names the URL, its sha256 prefix, the cache path where the file can be
  placed by hand and the name the mirror must hold.

Cache: ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME``), the folder
mmengine and torch.hub use, so files they downloaded before are reused (and
verified). Written by hand with ``urllib`` because torch.hub's
``download_url_to_file`` neither limits size or time, nor detects a short
read, nor follows Drive's confirmation form, and mmengine/timm have nothing
for these.
"""
import contextlib
import glob
import hashlib
import html.parser
import http.client
import os
import pickle
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, Mapping, Optional, Tuple

import torch

from .locks import LockedError, exclusive

MIRROR_ENV = 'MMDOEI_MIRROR'
MAX_MB_ENV = 'MMDOEI_MAX_DOWNLOAD_MB'
DEADLINE_ENV = 'MMDOEI_DOWNLOAD_DEADLINE'
TIMEOUT_ENV = 'MMDOEI_DOWNLOAD_TIMEOUT'
#: Defaults of the three limits (MB per file, seconds per download, seconds per read).
DEFAULT_MAX_MB, DEFAULT_DEADLINE, DEFAULT_TIMEOUT = 2048.0, 3 * 3600.0, 60.0
#: Redirects followed per request (browsers allow ~20; release hosts use 1 or 2).
MAX_REDIRECTS = 5
#: torch.hub's naming convention, ``name-<first 8+ hex digits of the sha256>.ext``.
HASH_REGEX = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')
_DRIVE_HOSTS = ('drive.google.com', 'docs.google.com', 'drive.usercontent.google.com')
# Schemes Drive's confirmation form may submit to (a test serving Drive's pages over http adds 'http').
_DRIVE_CONFIRM_SCHEMES = ('https', )
_SCHEMES = ('http', 'https')
# A cache name kept as the URL gives it: a letter or digit first, no separators, no '..'.
_SAFE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]{0,127}')
# The part of a changed name that is kept: torch.hub's hash suffix and/or the extension.
_NAME_TAIL = re.compile(r'(-[0-9a-f]{8,64})?\.[A-Za-z0-9]{1,16}$')
_FREE_MARGIN = 64 << 20  # bytes left free on the cache's disk after a download
_CHUNK = 1 << 20
_HTML_LIMIT = 1 << 20  # Drive's warning page is ~2 kB

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


class _Refused(Exception):
    """A redirect or URL this module does not follow (raised inside the urllib opener)."""


def cache_dir() -> Path:
    """Where downloaded checkpoints live: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / 'checkpoints'


def _env_limit(name: str, default: float) -> float:
    """A positive number from the environment variable ``name`` (read at each download)."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float('nan')
    if not value > 0:
        raise ValueError(f'${name}={text!r}: expected a positive number')
    return value


def max_download_bytes() -> int:
    """The size limit of one download: ``$MMDOEI_MAX_DOWNLOAD_MB`` (default 2048) MB."""
    return int(_env_limit(MAX_MB_ENV, DEFAULT_MAX_MB) * (1 << 20))


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
    return f'https://drive.google.com/uc?export=download&id={urllib.parse.quote(file_id, safe="")}'


def mirror_name_for(url: str) -> str:
    """The plain file name of a URL, as a mirror (``$MMDOEI_MIRROR``) holds it; safe to join to a folder.

    The URL's last path part (``deit_small_patch16_224-cd65a155.pth``),
    ``gdrive_<id>.pth`` for Drive. A name with anything but letters, digits and
    ``._+-``, a leading dot, ``..``, or over 128 characters (a ``%2F``,
    ``..%2F``, a control character) is rebuilt from its last 64 letters and
    digits, keeps its hash suffix and extension, and gets the first 16 hex
    digits of the sha256 of the full URL: ``x_<16 hex>.pth``.

    Raises:
        ValueError: the URL names no file (its path ends with ``/``), or is a
            Drive URL without a file id.
    """
    return _names(url)[0]


def file_name_for(url: str) -> str:
    """The cache file name of a URL: unique to the URL unless its content is checked by name.

    :func:`mirror_name_for`'s name as it is when it carries a sha256 prefix
    (torch.hub's ``name-<hash>.ext``, checked on every use) or is a real Drive
    URL's ``gdrive_<id>.pth``; any other name gets ``_<16 hex of the sha256 of
    the URL>`` before its extension (``demo_3f0c...9a.pth``), so a file of the
    same name from another URL (``http://evil/demo.pth``,
    ``http://evil/gdrive_<id>.pth``) never becomes that entry.

    Raises:
        ValueError: as :func:`mirror_name_for`.
    """
    return _names(url)[1]


def _url_hash(url: str) -> str:
    """16 hex digits of the sha256 of the full URL: what makes a cache name unique to it."""
    return hashlib.sha256(url.encode('utf-8', 'surrogatepass')).hexdigest()[:16]


def _names(url: str) -> Tuple[str, str]:
    """(mirror name, cache name) of ``url``: see :func:`mirror_name_for` and :func:`file_name_for`."""
    drive = is_drive_url(url)
    if drive:
        file_id = drive_file_id(url)
        if not file_id:
            raise ValueError(f'{url}: a Google Drive URL without a file id')
        raw = f'gdrive_{file_id}.pth'
    else:
        raw = urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path))
    if not raw.strip('.'):
        raise ValueError(f'{url}: the URL names no file')
    if _SAFE_NAME.fullmatch(raw) and '..' not in raw:
        if drive or hash_prefix_of(raw):
            return raw, raw
        stem, ext = os.path.splitext(raw)
        return raw, f'{stem}_{_url_hash(url)}{ext}'
    m = _NAME_TAIL.search(raw)
    tail = m.group(0) if m else ''
    # the end of a path is the file's own name: keep it
    stem = re.sub(r'[^A-Za-z0-9+-]+', '_', raw[:len(raw) - len(tail)])[-64:].strip('_+-') or 'download'
    name = f'{stem}_{_url_hash(url)}{tail}'  # already unique to the URL
    return name, name


def _inside(folder: Path, name: str, url: str, what: str) -> Path:
    """``folder / name``, refused unless it resolves (symlinks followed) inside ``folder``."""
    path = folder / name
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    if real == root or os.path.commonpath([root, real]) != root:
        raise CheckpointDownloadError(
            f'{url}: its {what} file {path} resolves to {real}, outside the {what} folder {root} '
            '(a symlink pointing out?); refused, nothing was read or written there')
    return path


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


def _remove_partials(dst: Path) -> None:
    """Drop every partial file of ``dst``: called by the holder of its lock only.

    Whoever wrote one is gone (killed), since a running download holds the
    lock; a process id in the name would say nothing about another node's.
    """
    for part in dst.parent.glob(f'.{glob.escape(dst.name)}.*.part'):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


@contextlib.contextmanager
def _entry_lock(dst: Path, source: str) -> Iterator[None]:
    """Hold the lock of the cache entry ``dst``; say so on stderr when another process has it."""
    lock_file = dst.parent / f'.{dst.name}.lock'
    what = f'the download of {source} into {dst}'
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(exclusive(lock_file, what, timeout=0))
        except LockedError as e:
            print(f'[mmdoei] waiting: {e}', file=sys.stderr)
            # Another process downloads it: wait at most as long as its download may take.
            stack.enter_context(exclusive(lock_file, what, timeout=_env_limit(DEADLINE_ENV, DEFAULT_DEADLINE) + 300))
        yield


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
    """The URL Drive's large-file warning page submits to download the file anyway.

    Only parsed: whether it may be followed is decided by :func:`download_to`.
    """
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
    """The error of a file that cannot be fetched: where to place it by hand (its cache name), or a mirror."""
    sha = f'sha256 starting {expected}' if expected else 'sha256 not known (no hash in its name)'
    return CheckpointDownloadError(
        f'cannot download {url}: {reason}. Place the file ({sha}) by hand at {dst} (its cache name, '
        f'{dst.name}), or set {MIRROR_ENV} to a base URL or a folder that holds {mirror_name_for(url)}')


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows at most :data:`MAX_REDIRECTS` redirects, each to ``http``/``https`` only.

    urllib's own handler also follows ``ftp://`` and allows 10 redirects.
    """

    max_redirections = MAX_REDIRECTS + 1  # ours below fires first, with a clearer message

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get('location') or headers.get('uri')
        if location:
            new_url = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlparse(new_url).scheme.lower() not in _SCHEMES:
                fp.close()
                raise _Refused(f'{req.full_url} redirects to {new_url}, which is not http(s); refused')
            if getattr(req, 'mmdoei_redirects', 0) >= MAX_REDIRECTS:
                fp.close()
                raise _Refused(f'more than {MAX_REDIRECTS} redirects (the last from {req.full_url} to '
                               f'{new_url}); refused')
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.mmdoei_redirects = getattr(req, 'mmdoei_redirects', 0) + 1
        return new


def _opener() -> urllib.request.OpenerDirector:
    """A urllib opener that speaks http and https only (no file:, ftp:, data: handlers)."""
    opener = urllib.request.OpenerDirector()
    proxies = {k: v for k, v in urllib.request.getproxies().items() if k in _SCHEMES}
    handlers = [urllib.request.ProxyHandler(proxies), urllib.request.HTTPHandler(),
                urllib.request.HTTPDefaultErrorHandler(), _HTTPOnlyRedirects(),
                urllib.request.HTTPErrorProcessor()]
    if hasattr(urllib.request, 'HTTPSHandler'):
        handlers.append(urllib.request.HTTPSHandler())
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def _open(url: str, timeout: float):
    if urllib.parse.urlparse(url).scheme.lower() not in _SCHEMES:
        raise _Refused(f'{url} is not an http(s) URL; refused')
    req = urllib.request.Request(url, headers={'User-Agent': 'mmdoei'})
    return _opener().open(req, timeout=timeout)


# Sentences of torch.load's errors that advise loading in full (running code from the file)
# or allow-listing what the file asks for, or that only explain that advice.
_TORCH_ADVICE = ('weights_only` set to', 'weights_only=False', 'default value of the', 'trusted source',
                 'can still be loaded', 'Weights only load failed', 'documentation', 'safe_globals', 'allowlist',
                 'internal miniz error', 'If you are seeing this error', 'This can happen if')


def torch_reason(e: BaseException) -> str:
    """What a ``torch.load`` error says is wrong, without torch's advice to unpickle in full.

    torch's message says the file "can still be loaded" with ``weights_only``
    set to ``False`` (running code from it) or by allow-listing the global it
    asks for; only the sentence that names the problem is kept.
    """
    text = str(e).strip()
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
    sentences = [x.strip() for x in re.split(r'(?<=[.?!])\s+', text)
                 if x.strip() and not any(a in x for a in _TORCH_ADVICE)]
    reason = sentences[0] if sentences else ''
    return f'{type(e).__name__}: {reason}' if reason else f'{type(e).__name__} (the file is empty or ends early)'


def download_to(url: str, dst: os.PathLike, expected_hash: Optional[str] = None,
                source: Optional[str] = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dst`` atomically, verifying ``expected_hash`` (a sha256 prefix).

    Holds the lock of ``dst`` (``.{name}.lock`` next to it) while downloading,
    so a second process waits for the first. The data goes to
    ``.{name}.{pid}.*.part`` next to ``dst`` and is renamed onto ``dst`` only
    after all ``Content-Length`` bytes arrived, the hash matched and the file
    loaded with ``weights_only=True``; on any failure the partial file is
    removed. Limits, redirects and HTML answers: see the module docstring.

    Args:
        url: Where to download from (the mirror's URL when one is used).
        dst: The cache file.
        expected_hash: sha256 prefix the file must have.
        source: The URL named in errors (the original one when ``url`` is a mirror's).
        progress: Print a line to stderr when done.

    Raises:
        CheckpointDownloadError: no connection, an HTTP error, a refused scheme
            or redirect, a limit reached, a short read, a file that is not a
            checkpoint, or an HTML page that is not Drive's warning.
        CheckpointHashError: the file's sha256 does not match.
        UnsafeCheckpointError: the file needs globals ``weights_only`` refuses.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with _entry_lock(dst, source or url):
        return _download_locked(url, dst, expected_hash, source or url, progress)


def _download_locked(url: str, dst: Path, expected_hash: Optional[str], source: str, progress: bool) -> Path:
    """:func:`download_to`, with the lock of ``dst`` held by the caller."""
    max_bytes = max_download_bytes()
    deadline = _env_limit(DEADLINE_ENV, DEFAULT_DEADLINE)
    per_read = _env_limit(TIMEOUT_ENV, DEFAULT_TIMEOUT)
    start = time.monotonic()

    def fail(what: str) -> CheckpointDownloadError:
        return CheckpointDownloadError(f'cannot download {source} as {dst.name} into {dst.parent}: {what}; '
                                       'nothing was kept')

    def chunks(resp) -> Iterator[bytes]:
        """The body, one socket read at a time, cut at the deadline."""
        got = 0
        while True:
            if time.monotonic() - start > deadline:
                raise fail(f'the download took longer than {deadline:g} s (${DEADLINE_ENV} raises the limit), '
                           f'{got} bytes arrived')
            try:
                chunk = resp.read1(_CHUNK)  # read() would wait for a whole chunk, past the deadline
            except (OSError, http.client.HTTPException) as e:  # a reset, a timeout, IncompleteRead
                raise fail(f'the download stopped after {got} bytes ({e}), run again to restart it') from e
            if not chunk:
                return
            got += len(chunk)
            yield chunk

    _remove_partials(dst)
    fd, tmp = tempfile.mkstemp(prefix=f'.{dst.name}.{os.getpid()}.', suffix='.part', dir=dst.parent)
    tmp = Path(tmp)
    try:
        with os.fdopen(fd, 'wb') as out:
            target = url
            for _ in range(3):  # the file, or Drive's warning page and then the file
                try:
                    resp = _open(target, timeout=per_read)
                except _Refused as e:
                    raise fail(str(e)) from None
                except urllib.error.HTTPError as e:
                    raise fail(f'HTTP {e.code} {e.reason} from {target}') from e
                except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
                    reason = getattr(e, 'reason', e)
                    raise _offline_error(source, dst, expected_hash, f'no connection ({reason})') from e
                with resp:
                    here = resp.geturl()
                    if resp.headers.get('Content-Type', '').lower().startswith('text/html'):
                        if not is_drive_url(url):
                            raise fail(f'{here} answered with an HTML page, not a checkpoint')
                        page = bytearray()
                        for chunk in chunks(resp):
                            page += chunk
                            if len(page) >= _HTML_LIMIT:
                                break
                        nxt = confirm_url_from_html(page.decode('utf-8', 'replace'), here)
                        if nxt is None:
                            raise fail(f'{here} answered with an HTML page, not a checkpoint, and it has no '
                                       'download form (a Drive file that is not shared publicly, or over its '
                                       'quota?)')
                        parts = urllib.parse.urlparse(nxt)
                        if parts.scheme.lower() not in _DRIVE_CONFIRM_SCHEMES or parts.hostname not in _DRIVE_HOSTS:
                            raise fail(f"the page {here} submits to {nxt}, not to https on a Google Drive host; "
                                       'refused')
                        target = nxt
                        continue
                    total = resp.headers.get('Content-Length')
                    try:
                        total = int(total) if total is not None else None
                    except ValueError:
                        raise fail(f'the server sent an invalid Content-Length {total!r}') from None
                    if total is not None and total > max_bytes:
                        raise fail(f'the server announces {total} bytes (Content-Length), more than the limit of '
                                   f'{max_bytes >> 20} MB (${MAX_MB_ENV} raises it), refused before the body')
                    if total is not None:
                        free = shutil.disk_usage(dst.parent).free
                        if free < total + _FREE_MARGIN:
                            raise fail(f'the file has {total} bytes but only {free} bytes are free on the disk '
                                       f'of {dst.parent} (and {_FREE_MARGIN >> 20} MB must stay free); free some '
                                       f'space or set TORCH_HOME elsewhere; refused before the body')
                    h = hashlib.sha256()
                    got = 0
                    for chunk in chunks(resp):
                        got += len(chunk)
                        if got > max_bytes:
                            raise fail(f'the server sent more than the limit of {max_bytes >> 20} MB '
                                       f'(${MAX_MB_ENV} raises it)')
                        try:
                            out.write(chunk)
                        except OSError as e:
                            raise fail(f'cannot write the download into {dst.parent} ({e.strerror})') from e
                        h.update(chunk)
                    if total is not None and got != total:
                        raise fail(f'the download stopped after {got} of {total} bytes, run again to restart it')
                    if got == 0:
                        raise fail('the server sent an empty file')
                    break
            else:
                raise fail('Drive kept answering with HTML pages')
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as e:
                raise fail(f'cannot write the download into {dst.parent} ({e.strerror})') from e
        actual = h.hexdigest()
        if expected_hash and not actual.startswith(expected_hash.lower()):
            raise CheckpointHashError(
                f'{source}: sha256 mismatch, expected {expected_hash}..., got {actual}; the download '
                f'was deleted and nothing was written to {dst.parent}')
        # Loaded before it enters the cache: a truncated file or a web page is never kept.
        try:
            safe_torch_load(tmp, map_location='cpu', source=source)
        except UnsafeCheckpointError as e:
            raise UnsafeCheckpointError(f'{e} The download was deleted; nothing was written to {dst}.') from e
        except Exception as e:  # whatever torch finds wrong: the file is not a checkpoint
            raise fail(f'the file ({got} bytes) is not a checkpoint torch can load ({torch_reason(e)})') from e
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
    mirror URL or ``url`` itself (downloaded into the cache under the entry's
    lock; a process that waited for it uses the file the other one wrote). A
    zoo URL whose release does not exist yet is never requested from its host.

    Args:
        url: ``http(s)://`` URL.
        sha256: A pinned sha256 (prefix) for files without one in their name.
        download: If False, fail instead of downloading (used by the ranks that
            wait for local rank 0).
        progress: Report a download on stderr.

    Raises:
        CheckpointHashError: The file's sha256 is not the pinned one.
        CheckpointDownloadError: The download failed or broke a limit.
        UnsafeCheckpointError: The file is not a checkpoint that loads with ``weights_only=True``.
    """
    plain, name = _names(url)
    expected = sha256 or hash_prefix_of(name)
    folder = cache_dir()
    dst = _inside(folder, name, url, 'cache')
    if dst.is_file():
        _check_hash(dst, expected, f'{url} (cached at {dst})')
        return dst
    mirror = _mirror()
    if mirror and not re.match(r'^https?://', mirror):
        local = _inside(Path(mirror).expanduser(), plain, url, 'mirror')
        if local.is_file():
            _check_hash_readonly(local, expected, url)
            return local
        if url in _UNPUBLISHED:
            raise _offline_error(url, dst, expected, f'not in the mirror folder {mirror}; '
                                 + _UNPUBLISHED[url])
    if not download:
        raise _offline_error(url, dst, expected, 'local rank 0 of this node did not download it')
    if url in _UNPUBLISHED and not (mirror and re.match(r'^https?://', mirror)):
        raise _offline_error(url, dst, expected, _UNPUBLISHED[url])
    folder.mkdir(parents=True, exist_ok=True)
    with _entry_lock(dst, url):
        if dst.is_file():  # another process downloaded it while this one waited
            _check_hash(dst, expected, f'{url} (cached at {dst})')
            return dst
        if mirror and re.match(r'^https?://', mirror):
            target = mirror.rstrip('/') + '/' + urllib.parse.quote(plain)
        else:
            target = drive_download_url(drive_file_id(url)) if is_drive_url(url) else url
        return _download_locked(target, dst, expected, url, progress)


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
            any other global (a pickled callable, a custom class); with torch's
            reason, not its advice to load the file with full unpickling.
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
            f'allow, so it could run code when unpickled. Nothing from it was executed. ({torch_reason(e)})'
        ) from e


def load_from_safe_http(filename: str, map_location=None, model_dir: Optional[str] = None,
                        progress: bool = True):
    """``CheckpointLoader`` scheme for ``http(s)://``: fetch (one rank per node), verify, safe-load, convert.

    Replaces mmengine's ``load_from_http`` (same signature; ``model_dir`` is
    accepted for compatibility and ignored: the cache is torch.hub's).

    Raises:
        CheckpointDownloadError: also when a file already in the cache (or the
            mirror folder) does not load; the message names it.
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
    in_cache = Path(path).parent == cache_dir()
    fix = 'delete it to download again' if in_cache else 'replace it in the mirror folder'
    try:
        ckpt = safe_torch_load(path, map_location=map_location, source=filename)
    except UnsafeCheckpointError as e:
        raise UnsafeCheckpointError(f'{e} The file is {path}: {fix}.') from e
    except Exception as e:  # a file placed or downloaded before downloads were checked: truncated, a page
        raise CheckpointDownloadError(
            f'{filename}: the {"cached" if in_cache else "mirror"} file {path} is not a checkpoint torch can load '
            f'({torch_reason(e)}); {fix}') from e
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
