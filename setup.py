"""Install mmdoei: ``pip install -e .`` (see tools/install.sh for the full stack)."""
import os
import os.path as osp
import shutil
import sys
from pathlib import Path
from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    lines = Path(__file__).parent.joinpath('requirements', name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


def read_version() -> str:
    ns: dict = {}
    exec(Path(__file__).parent.joinpath('mmdoei', 'version.py').read_text(), ns)
    return ns['__version__']


def add_mim_extension() -> None:
    """Put the model index, configs and tools into ``mmdoei/.mim``, where mim and the zoo read them.

    As mmpretrain's setup.py: symlinks for editable installs, copies when a
    wheel or sdist is built (then ``package_data`` ships them).
    """
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'mmdoei', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in ('model-index.yml', 'configs', 'tools'):
        src, dst = osp.join(repo, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isfile(src):
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


add_mim_extension()
setup(
    name='mmdoei',
    version=read_version(),
    description='DOEI (Dual Optimization of Embedding Information) for weakly '
    'supervised semantic segmentation, as an OpenMMLab 2.x plugin',
    long_description=Path(__file__).parent.joinpath('README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    # only mmdoei: the research harness (projects/), the scripts and the tests stay in the repository
    packages=find_packages(exclude=('configs', 'configs.*', 'tools', 'tools.*', 'tests', 'tests.*', 'benchmarks',
                                    'benchmarks.*', 'projects', 'projects.*')),
    python_requires='>=3.8',
    package_data={'mmdoei': ['.mim/model-index.yml', '.mim/configs/**/*.py', '.mim/configs/**/*.yml',
                             '.mim/tools/**/*.py', '.mim/tools/**/*.sh']},
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'crf': read_requirements('optional.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
