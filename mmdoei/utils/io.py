"""Small file helpers shared by every tool that writes results.

Everything mmdoei writes goes through :func:`atomic_write`: the data lands in a
temporary file in the destination folder and is renamed over the target only
when complete, so an interrupted run never leaves a half-written file behind
and a rerun can trust that any file that exists is whole.
"""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
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


def load_npz(path: PathLike) -> dict:
    """Load a ``.npz`` written by :func:`save_npz_atomic` without unpickling.

    Raises:
        ValueError: naming the file when it is truncated or not an npz.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except Exception as e:  # zipfile/BadZipFile/ValueError/EOFError all mean "corrupt"
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e}); '
                         'the file is truncated or corrupt, delete it and rerun') from e
