"""Every repository path the README, the docs, docstrings and configs cite exists.

A user has the repository and nothing beside it: a reference to a file it does
not contain (a design note of the founders, a renamed tool) is a dead end.
"""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Top-level folders of the repository whose paths texts cite.
TOP = ('docs', 'mmdoei', 'configs', 'tools', 'tests', 'benchmarks', 'requirements', '.ci')
PATH = re.compile(r'(?<![\w./-])((?:%s)/[\w./-]*[\w/])' % '|'.join(re.escape(t) for t in TOP))
#: Paths outside the repository that no text may cite.
# Spelled in pieces so that this file does not itself cite what it forbids.
_SHARED, _SPEC, _SMALL = 'shared' + '/', 'DOEI' + '-SPEC', 'SMALL' + '-SCALE'
OUTSIDE = re.compile(r'(?<![\w])(?:\.\./)?' + _SHARED + r'(?:design|paper)\b|' + _SPEC + '|' + _SMALL
                     + r'\.md|doei-paper\.txt|ENVIRONMENT\.md|ARCHITECTURE\.md')


def _texts():
    yield ROOT / 'README.md'
    for pattern in ('docs/**/*.md', 'mmdoei/**/*.py', 'tools/**/*.py', 'tools/**/*.sh', 'configs/**/*.py',
                    'configs/**/*.yml', 'benchmarks/**/*.py', 'requirements/*.txt', 'model-index.yml'):
        yield from sorted(ROOT.glob(pattern))


def cited_paths(text: str):
    """The repository paths a text names (placeholders such as ``{img_id}`` or ``*`` skipped)."""
    for m in PATH.finditer(text):
        path = m.group(1).rstrip('.')
        after = text[m.end():m.end() + 3]
        if after[:1] in ('{', '<', '*') or after == '...' or re.search(r'/[A-Z_]+\.', path):
            continue  # a pattern ('configs/<algorithm>/...', 'tools/TOOL.py'), not a file
        if path.startswith('mmdoei/.mim'):
            continue  # made by setup.py when the package is built (model index for mim)
        yield path


def _repository_files():
    """Files a clone would hold, or None outside a git checkout.

    A file git ignores (a benchmark's output in ``benchmarks/out``) exists on the
    machine that wrote it but not in a fresh clone: it must not count as cited.
    """
    try:
        out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    files = set(out.splitlines())
    return files | {str(Path(f).parents[i]) for f in files for i in range(len(Path(f).parts) - 1)}


def test_cited_paths_exist():
    tracked = _repository_files()
    missing = []
    for f in _texts():
        for path in cited_paths(f.read_text(encoding='utf-8')):
            in_clone = (ROOT / path).exists() if tracked is None else path.rstrip('/') in tracked
            if not in_clone:
                missing.append(f'{f.relative_to(ROOT)}: {path}')
    assert not missing, 'paths cited but not in the repository:\n' + '\n'.join(sorted(set(missing)))


def test_nothing_cites_files_outside_the_repository():
    texts = list(_texts()) + sorted(ROOT.glob('tests/**/*.py'))
    bad = [f'{f.relative_to(ROOT)}:{n}: {line.strip()}'
           for f in texts
           for n, line in enumerate(f.read_text(encoding='utf-8').splitlines(), 1) if OUTSIDE.search(line)]
    assert not bad, 'references to files a user of the repository does not have:\n' + '\n'.join(bad)


@pytest.mark.parametrize('text, expected', [
    ('see `docs/method.md`, and tools/test.py.', ['docs/method.md', 'tools/test.py']),
    ('configs/<algorithm>/metafile.yml and work_dirs/x', []),
    ('../docs/x.md is relative', []),
    ('`configs/doei/doei-tscam_...`, python tools/TOOL.py', []),
])
def test_cited_paths_are_found(text, expected):
    assert list(cited_paths(text)) == expected


def test_outside_references_are_found():
    assert OUTSIDE.search(f'see ../{_SHARED}design/{_SPEC}.md')
    assert OUTSIDE.search(f'the spec ({_SPEC}.md)')
    assert OUTSIDE.search(f'measured ({_SMALL}.md)')
    assert not OUTSIDE.search('docs/method.md')
