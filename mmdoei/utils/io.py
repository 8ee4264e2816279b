"""Small file helpers shared by every tool that writes results.

Everything mmdoei writes goes through :func:`atomic_write`: the data lands in a
temporary file in the destination folder and is renamed over the target only
when complete, so an interrupted run never leaves a half-written file behind
and a rerun can trust that any file that exists is whole.
"""
import contextlib
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Dict, Iterator, Tuple, Union

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


def save_npz_atomic(path: PathLike, **arrays: np.ndarray) -> None:
    """Write arrays as an uncompressed ``.npz`` atomically (no pickles inside).

    Object arrays are refused: they would need pickling to be read back.
    """
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f'{path}: array {name!r} has dtype object, which would be pickled')
    with atomic_write(path, 'wb') as f:
        np.savez(f, **arrays)


def npz_headers(path: PathLike) -> Dict[str, Tuple[Tuple[int, ...], np.dtype]]:
    """``{name: (shape, dtype)}`` of every array in a ``.npz``, from the
    ``.npy`` headers only, each checked against the bytes actually stored.

    ``np.load`` allocates an array of the declared shape before it reads the
    data, so a file a few bytes long can declare terabytes; here a header is
    refused unless its shape times its item size equals the size of its
    member (after decompression, as the zip directory states), and object
    dtypes (pickles) are refused. Nothing the size of an array is allocated.

    Raises:
        ValueError: naming the file and the array: not a zip, a member that
            is not a ``.npy``, an object dtype, or a declared size that is
            not what the file holds.
    """
    fmt = np.lib.format
    headers = {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename[:-4] if info.filename.endswith('.npy') else info.filename
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
                    raise ValueError(f'array {name!r} has dtype {dtype}, which would need unpickling; refused')
                declared = math.prod(shape) * dtype.itemsize
                if declared != data_bytes:
                    raise ValueError(f'array {name!r} declares shape {shape} of {dtype} ({declared} bytes) '
                                     f'but holds {data_bytes} bytes; refused before allocating it')
                headers[name] = (tuple(shape), dtype)
    except FileNotFoundError:
        raise
    except Exception as e:  # BadZipFile, EOFError, zlib and header errors: corrupt or hostile
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e}); '
                         'the file is truncated or corrupt, delete it and rerun') from e
    return headers


def load_npz(path: PathLike) -> dict:
    """Load a ``.npz`` written by :func:`save_npz_atomic` without unpickling,
    after checking its headers (:func:`npz_headers`).

    Raises:
        ValueError: naming the file when it is truncated, not an npz, holds
            object arrays or declares arrays larger than its data.
    """
    npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except Exception as e:  # zipfile/BadZipFile/ValueError/EOFError all mean "corrupt"
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e}); '
                         'the file is truncated or corrupt, delete it and rerun') from e
