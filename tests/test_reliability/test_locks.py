"""mmdoei.utils.locks never writes through a planted lock file (a symlink or a hard link to a file elsewhere).

Anyone who can write into a cache or an output folder could otherwise plant
``.x.lock -> /elsewhere/precious`` and have the next run empty and overwrite
that file (or create one where a dangling link points). In-process: the lock
takes no import of mmdoei's heavy parts.
"""
import os

import pytest

from mmdoei.utils.locks import FOLDER_LOCK, UnsafeLockFileError, exclusive, folder_lock


@pytest.fixture
def precious(tmp_path):
    """A file outside the locked folder, with its content."""
    path = tmp_path / 'outside' / 'precious'
    path.parent.mkdir()
    path.write_text('precious\n')
    return path


def test_a_symlink_to_an_existing_file_is_refused_and_the_file_untouched(tmp_path, precious):
    lock = tmp_path / 'cache' / '.qux.pth.lock'
    lock.parent.mkdir()
    lock.symlink_to(precious)
    with pytest.raises(UnsafeLockFileError) as e:
        with exclusive(lock, 'the download of qux.pth'):
            pytest.fail('the lock was taken through a symlink')
    assert str(e.value) == (f'the lock file {lock} of the download of qux.pth is a symbolic link; refused, nothing '
                            'was written through it (delete it if you did not make it)')
    assert precious.read_text() == 'precious\n'


def test_a_dangling_symlink_is_refused_and_nothing_created(tmp_path):
    folder = tmp_path / 'cams'
    folder.mkdir()
    ghost = tmp_path / 'outside' / 'ghost'
    (folder / FOLDER_LOCK).symlink_to(ghost)
    with pytest.raises(UnsafeLockFileError, match=f'^the lock file {folder / FOLDER_LOCK} of CAM folder {folder} is '
                       'a symbolic link; refused'):
        with folder_lock(folder, 'CAM folder'):
            pytest.fail('the lock was taken through a dangling symlink')
    assert not ghost.exists() and not ghost.parent.exists()


def test_a_hard_link_is_refused_and_the_file_untouched(tmp_path, precious):
    folder = tmp_path / 'cams'
    folder.mkdir()
    os.link(precious, folder / FOLDER_LOCK)
    with pytest.raises(UnsafeLockFileError) as e:
        with folder_lock(folder, 'CAM folder'):
            pytest.fail('the lock was taken through a hard link')
    assert str(e.value) == (f'the lock file {folder / FOLDER_LOCK} of CAM folder {folder} is a hard link (2 names '
                            'for one file); refused, nothing was written to it (delete it if you did not make it)')
    assert precious.read_text() == 'precious\n'


def test_a_fifo_is_refused(tmp_path):
    lock = tmp_path / '.x.lock'
    os.mkfifo(lock)
    with pytest.raises(UnsafeLockFileError, match=f'^the lock file {lock} of x is not a regular file; refused'):
        with exclusive(lock, 'x'):
            pytest.fail('the lock was taken on a fifo')


def test_an_ordinary_lock_file_is_created_reused_and_names_its_holder(tmp_path):
    lock = tmp_path / 'sub' / '.x.lock'
    with exclusive(lock, 'x') as held:
        assert held == lock and lock.read_text() == f'host {os.uname().nodename} pid {os.getpid()}\n'
    lock.write_text('an older holder with a longer line\n')
    with exclusive(lock, 'x'):  # an existing regular file of its own: reused, rewritten whole
        assert lock.read_text() == f'host {os.uname().nodename} pid {os.getpid()}\n'
