"""The lint settings of setup.cfg (flake8 and isort, as the OpenMMLab repos' pre-commit) hold for the repository."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize('cmd', [['flake8'], ['isort', '--check-only', '--diff', '.']], ids=lambda c: c[0])
def test_lint_passes(cmd):
    res = subprocess.run([sys.executable, '-m', *cmd], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f'{" ".join(cmd)} found problems:\n{res.stdout[-5000:]}{res.stderr[-2000:]}'
