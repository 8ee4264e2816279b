"""Small file helpers shared by every tool that writes results.

Everything mmdoei writes goes through :func:`atomic_write`: the data lands in a
temporary file in the destination folder and is renamed over the target only
when complete, so an interrupted run never leaves a half-written file behind
and a rerun can trust that any file that exists is whole.
"""
import collections
import contextlib
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it onto ``path`` on success.

    Args:
        path: Final destination.
        mode: ``'wb'`` or ``'w'``.

    Yields:
        The open temporary file. On an exception it is removed and ``path`` is
        left untouched.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None:
            # A full disk or read-only folder fails in write()/mkstemp(), whose
            # errors name no file or only the temporary one: name the target.
            raise OSError(e.errno, f'cannot write {path}: {e.strerror}; nothing was written there') from e
        raise


_KINDS = ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO (named pipe)'),
          (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'))


def check_regular_file(path: PathLike, what: str = 'file') -> int:
    """The size of ``path`` after checking that it is a regular file.

    ``os.stat`` follows symlinks, so a link to a regular file (say, inside
    the data tree) is fine; a link to ``/dev/zero`` or a FIFO is not: reading
    the first never ends (memory grows until the kernel kills the run), and
    opening the second blocks forever. The check runs before anything opens
    the path, so a FIFO is never opened.

    Args:
        path: A local path.
        what: What the file is, for the messages (``'split file'``).

    Returns:
        The file's size in bytes.

    Raises:
        FileNotFoundError: naming ``what`` and the path when it does not exist.
        ValueError: naming the path (and where a symlink leads) when it is a
            directory, FIFO, device or socket.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} {path} does not exist') from None
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    kind = next((name for test, name in _KINDS if test(st.st_mode)), 'not a file')
    target = os.path.realpath(path)
    via = f' (a symlink to {target})' if target != os.path.abspath(path) else ''
    raise ValueError(f'{path}: {what} is {kind}{via}, not a regular file; refused, since reading it '
                     'could block forever or never end')


def read_bytes_bounded(path: PathLike, limit: int, what: str = 'file') -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    The size is checked before reading, and the read stops one byte past
    ``limit``, so a file that grows while it is read is refused too.

    Raises:
        FileNotFoundError / ValueError: as :func:`check_regular_file`, or
            naming the file, its size and the limit when it is larger.
    """
    size = check_regular_file(path, what)
    too_big = f'{path}: {what} holds {{}} bytes, more than the limit of {limit}; refused'
    if size > limit:
        raise ValueError(too_big.format(size))
    with open(path, 'rb') as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(too_big.format(f'over {limit}'))
    return data


def save_npz_atomic(path: PathLike, **arrays: np.ndarray) -> None:
    """Write arrays as an uncompressed ``.npz`` atomically (no pickles inside).

    Object arrays are refused: they would need pickling to be read back.
    """
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f'{path}: array {name!r} has dtype object, which would be pickled')
    with atomic_write(path, 'wb') as f:
        np.savez(f, **arrays)


#: Zip methods a member may use: what ``np.savez`` / ``np.savez_compressed`` write.
#: zipfile caps a deflated member's output at its declared size; it decompresses
#: bzip2 and lzma chunks without such a cap, so those are refused.
NPZ_METHODS = {zipfile.ZIP_STORED: 'stored', zipfile.ZIP_DEFLATED: 'deflated'}


class _Refused(ValueError):
    """A well-read npz that breaks a rule: said as is, not as 'corrupt'."""


def npz_headers(path: PathLike, max_bytes: Optional[int] = None,
                what: str = '.npz file') -> Dict[str, Tuple[Tuple[int, ...], np.dtype]]:
    """``{name: (shape, dtype)}`` of every array in a ``.npz``, from the
    ``.npy`` headers only, each checked against the bytes actually stored.

    ``np.load`` allocates an array of the declared shape before it reads the
    data, so a file a few bytes long can declare terabytes; here a header is
    refused unless its shape times its item size equals the size of its
    member (after decompression, as the zip directory states), and object
    dtypes (pickles) are refused. Nothing the size of an array is allocated.

    The zip directory's sizes are the file's word, not a fact: a deflated
    member of a few hundred kB can expand to gigabytes. zipfile stops a
    stored or deflated member's output at its declared size (and then fails
    its CRC check), so the declared sizes bound what a later ``np.load``
    allocates; other methods, encrypted, repeated and folder entries are
    refused, and ``max_bytes`` bounds the declared total.

    Args:
        path: A local ``.npz`` file (a regular file: :func:`check_regular_file`).
        max_bytes: If set, the most the arrays may hold together once
            decompressed (their declared sizes); checked before any is read.
        what: What the file is, for the messages.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file and the array: not a regular file, not a
            zip, a member that is not a regular stored/deflated ``.npy``, an
            object dtype, a declared size that is not what the file holds, or
            more than ``max_bytes`` in all.
    """
    check_regular_file(path, what)
    fmt = np.lib.format
    headers = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            twice = sorted(n for n, c in collections.Counter(i.filename for i in infos).items() if c > 1)
            if twice:
                raise _Refused(f'member(s) {twice} appear more than once; refused')
            total = sum(info.file_size for info in infos)
            if max_bytes is not None and total > max_bytes:
                raise _Refused(f'its arrays declare {total} bytes in all, more than the limit of {max_bytes}; '
                               'refused before reading them')
            for info in infos:
                name = info.filename[:-4] if info.filename.endswith('.npy') else info.filename
                if info.is_dir() or info.flag_bits & 0x1 or info.compress_type not in NPZ_METHODS:
                    raise _Refused(f'member {info.filename!r} is not a regular stored or deflated array '
                                   f'(folder {info.is_dir()}, encrypted {bool(info.flag_bits & 0x1)}, '
                                   f'zip method {info.compress_type}); refused')
                with z.open(info) as f:
                    version = fmt.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = fmt.read_array_header_1_0(f)
                    elif version in ((2, 0), (3, 0)):
                        shape, _, dtype = fmt.read_array_header_2_0(f)
                    else:
                        raise ValueError(f'unsupported .npy format version {version}')
                    data_bytes = info.file_size - f.tell()
                if dtype.hasobject:
                    raise _Refused(f'array {name!r} has dtype {dtype}, which would need unpickling; refused')
                declared = math.prod(shape) * dtype.itemsize
                if declared != data_bytes:
                    raise _Refused(f'array {name!r} declares shape {shape} of {dtype} ({declared} bytes) '
                                   f'but holds {data_bytes} bytes; refused before allocating it')
                headers[name] = (tuple(shape), dtype)
    except FileNotFoundError:
        raise
    except _Refused as e:
        raise ValueError(f'{path}: {e}') from None
    except Exception as e:  # BadZipFile, EOFError, zlib and header errors: corrupt or hostile
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e}); '
                         'the file is truncated or corrupt, delete it and rerun') from e
    return headers


def load_npz(path: PathLike, max_bytes: Optional[int] = None, what: str = '.npz file',
             names: Optional[Sequence[str]] = None) -> dict:
    """Load a ``.npz`` written by :func:`save_npz_atomic` without unpickling,
    after checking its headers (:func:`npz_headers`, with ``max_bytes``).

    Args:
        path: A local ``.npz`` file.
        max_bytes: If set, the most its arrays may declare in all.
        what: What the file is, for the messages.
        names: Load only these arrays (others are checked, not read).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file when it is not a regular file, truncated,
            not an npz, holds object arrays, declares arrays larger than its
            data or than ``max_bytes``.
        MemoryError: naming the file and the bytes its arrays declare, when
            they do not fit in memory (the file is not corrupt, only large).
    """
    headers = npz_headers(path, max_bytes, what)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files if names is None or k in names}
    except FileNotFoundError:
        raise
    except MemoryError:
        # The file is whole (its headers matched its sizes): it is too large for this machine, not corrupt.
        wanted = {k: v for k, v in headers.items() if names is None or k in names}
        declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype in wanted.values())
        arrays = ', '.join(f'{k} {shape} {dtype}' for k, (shape, dtype) in sorted(wanted.items()))
        raise MemoryError(f'{path}: not enough memory to load this {what}: its arrays ({arrays}) declare '
                          f'{declared} bytes') from None
    except Exception as e:  # zipfile/BadZipFile/ValueError/EOFError all mean "corrupt"
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e}); '
                         'the file is truncated or corrupt, delete it and rerun') from e
