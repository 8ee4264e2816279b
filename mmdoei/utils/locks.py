"""One writer at a time: an advisory lock per output folder or cache entry.

Two runs writing into one CAM folder, or two nodes downloading one checkpoint
into a shared cache, must not delete or overwrite each other's files. Each
takes :func:`exclusive` on a lock file first; the second either waits for the
first to finish or stops with a message naming the holder's host and process.

Written with :mod:`fcntl` because mmengine has no file lock and the
``filelock`` package (a torch dependency) records no holder to name. The lock
is ``flock``: the kernel drops it when the holder's process dies (``kill -9``
included), so a lock file left behind by a killed run never blocks the next
one; its text only says who held it last.

The lock file is opened without following a symbolic link and must be a
regular file with one link: anyone who can write to the folder could
otherwise plant ``.x.lock -> /somewhere/precious`` (or a hard link to it) and
have the next run empty and overwrite that file, or create one outside.
"""
import contextlib
import errno
import fcntl
import os
import socket
import stat
import time
from pathlib import Path
from typing import Iterator, Optional, Union

PathLike = Union[str, os.PathLike]

#: The lock file an output folder gets (hidden, left in place: see the module docstring).
FOLDER_LOCK = '.mmdoei.lock'


class LockedError(RuntimeError):
    """Another run holds the lock; the message names it and the holder."""


class UnsafeLockFileError(RuntimeError):
    """The lock file is a symbolic link, a hard link or not a regular file: never written through."""


def _open_lock_file(lock_file: Path, what: str) -> int:
    """Open (or create) ``lock_file`` for reading and writing, refusing anything but a plain file of its own.

    ``O_NOFOLLOW`` refuses a symlink (dangling ones included, so nothing is
    created where it points); ``fstat`` after the open refuses a hard link to
    another file and anything that is not a regular file, before a byte is written.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0) | os.O_NOFOLLOW
    try:
        fd = os.open(lock_file, flags, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeLockFileError(
                f'the lock file {lock_file} of {what} is a symbolic link; refused, nothing was written through '
                'it (delete it if you did not make it)') from None
        raise
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        kind = 'not a regular file' if not stat.S_ISREG(st.st_mode) else \
            f'a hard link ({st.st_nlink} names for one file)'
        raise UnsafeLockFileError(
            f'the lock file {lock_file} of {what} is {kind}; refused, nothing was written to it '
            '(delete it if you did not make it)')
    return fd


def _holder(fd: int) -> str:
    """The ``host pid N`` text the current holder wrote into the lock file."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 256).decode('utf-8', 'replace').strip()
    except OSError:
        text = ''
    return text or 'an unknown process'


@contextlib.contextmanager
def exclusive(lock_file: PathLike, what: str, timeout: Optional[float] = 0.0,
              poll: float = 0.5) -> Iterator[Path]:
    """Hold an exclusive lock on ``lock_file`` for the ``with`` block.

    Args:
        lock_file: The lock file (created if missing, never deleted).
        what: What the lock protects, for the message (``'CAM folder /x'``).
        timeout: Seconds to wait for another holder; ``0`` fails at once,
            ``None`` waits for as long as it takes.
        poll: Seconds between attempts while waiting.

    Yields:
        The lock file's path.

    Raises:
        LockedError: another process holds the lock after ``timeout`` seconds;
            the message names ``what``, the holder's host and pid and the lock file.
        UnsafeLockFileError: the lock file is a symbolic link (even a dangling
            one), a hard link or not a regular file; nothing was written or created.
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock_file(lock_file, what)
    try:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if timeout is not None and time.monotonic() - start >= timeout:
                    raise LockedError(
                        f'{what} is in use by another run ({_holder(fd)}, lock file {lock_file}); '
                        'wait for it to finish, or write elsewhere') from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'host {socket.gethostname()} pid {os.getpid()}\n'.encode(), 0)
        try:
            yield lock_file
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def folder_lock(folder: PathLike, what: str = 'output folder', timeout: Optional[float] = 0.0):
    """:func:`exclusive` on ``folder/.mmdoei.lock`` (the folder is created)."""
    folder = Path(folder)
    return exclusive(folder / FOLDER_LOCK, f'{what} {folder}', timeout=timeout)
