"""The zoo ships in the package where mim reads it: ``mmdoei/.mim/model-index.yml`` + configs."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mmdoei.apis.hub import load_model_index
from .conftest import ROOT


@pytest.mark.slow
def test_wheel_carries_the_model_index_where_mim_reads_it(tmp_path):
    # Build from a copy of the checkout's files, so the build's .mim copy never lands in the work tree.
    files = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / 'src'
    for f in files:
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / f, src / f)
    out = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                          '-w', str(tmp_path / 'dist'), str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (wheel, ) = (tmp_path / 'dist').glob('mmdoei-*.whl')
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / 'site')
    assert 'mmdoei/.mim/model-index.yml' in names
    assert 'mmdoei/.mim/configs/mctformer/metafile.yml' in names
    assert 'mmdoei/.mim/tools/model_converters/publish_model.py' in names
    # the installed index is complete: every model's config is in the package
    models = load_model_index(tmp_path / 'site/mmdoei/.mim/model-index.yml')
    assert set(models) == set(load_model_index(ROOT / 'model-index.yml'))
    for m in models.values():
        assert (tmp_path / 'site/mmdoei/.mim').resolve() in Path(m['Config']).resolve().parents
        assert os.path.isfile(m['Config']), m['Config']
