"""Install mmdoei: ``pip install -e .`` (see tools/install.sh for the full stack)."""
from pathlib import Path
from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    lines = Path(__file__).parent.joinpath('requirements', name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


def read_version() -> str:
    ns: dict = {}
    exec(Path(__file__).parent.joinpath('mmdoei', 'version.py').read_text(), ns)
    return ns['__version__']


setup(
    name='mmdoei',
    version=read_version(),
    description='DOEI (Dual Optimization of Embedding Information) for weakly '
    'supervised semantic segmentation, as an OpenMMLab 2.x plugin',
    long_description=Path(__file__).parent.joinpath('README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
    python_requires='>=3.8',
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'crf': read_requirements('optional.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
