"""A tool run in the background of a test block (test_cam_tool.py, test_kill_resume.py).

Its own module, not conftest.py: ``from conftest import ...`` finds whichever of the
suite's three conftest.py files was imported first, so it broke collection of the whole suite.
"""
import subprocess
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def running(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``proc`` (started) runs in the background for the block, which waits for it; it is killed if the
    block fails. Two single-threaded tool runs side by side use the two cores (test_cam_tool.py,
    test_kill_resume.py import it)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
