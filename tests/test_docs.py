"""The documentation: a short README, a site that builds strictly, and commands the tests exercise.

The site is ``mkdocs.yml`` over ``docs/`` (user guides, method, API reference
generated from the docstrings). ``tests/test_doc_paths.py`` checks that every
path the pages cite exists.
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Pages whose commands a newcomer copies: every one must be exercised by a test.
COMMAND_PAGES = ['README.md', 'docs/get_started.md', *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / 'docs' / 'user_guides').glob('*.md'))]


#: Launchers that hand their flags to a tool: a test of the tool covers the flags.
FORWARDS = {'tools/dist_train.sh': 'tools/train.py', 'tools/dist_test.sh': 'tools/test.py',
            'tools/slurm_train.sh': 'tools/train.py', 'tools/slurm_test.sh': 'tools/test.py'}


def documented_commands(page: str) -> List[str]:
    """The shell commands of a page's ``bash`` blocks: continuation lines joined,
    comments and variable assignments dropped, ``$VAR`` expanded from the block."""
    out = []
    for block in re.findall(r'```bash\n(.*?)```', (ROOT / page).read_text(), re.S):
        vars_: Dict[str, str] = {}
        for line in re.sub(r'\\\n\s*', ' ', block).splitlines():
            line = re.sub(r'\s#.*$', '', line).strip()
            if not line or line.startswith('#'):
                continue
            for part in (p.strip() for p in line.split(';')):
                m = re.fullmatch(r'(\w+)=(\S+)', part)
                if m:
                    vars_[m.group(1)] = m.group(2)
                elif part:
                    for k, v in vars_.items():
                        part = part.replace(f'${k}', v)
                    out.append(' '.join(part.split('&&')[-1].split()))
    return out


def script_and_flags(command: str) -> Tuple[str, List[str]]:
    """``(script path, its --flags)`` of ``python|bash SCRIPT ...``; ``('', [])`` for other commands."""
    words = shlex.split(command)
    if len(words) < 2 or words[0] not in ('python', 'bash') or words[1] == '-m':
        return '', []
    return words[1], [w.split('=')[0] for w in words[2:] if w.startswith('--')]


def _test_sources() -> Dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(errors='replace') for p in (ROOT / 'tests').rglob('*.py')
            if p.name != 'test_docs.py'}


def _uses(source: str, flag: str) -> bool:
    """Whether a test's source passes ``flag`` (as a quoted argument or in a command line)."""
    return f"'{flag}'" in source or f'"{flag}"' in source or f' {flag} ' in source


def test_readme_is_short():
    lines = (ROOT / 'README.md').read_text().splitlines()
    assert len(lines) < 250, f'README.md has {len(lines)} lines: move details into docs/'


def test_commands_are_parsed_as_a_user_reads_them():
    # one hand-made block: a continuation, a comment, a variable, two commands on one line
    page = ROOT / 'docs' / 'user_guides' / 'pseudo_masks.md'
    cmds = documented_commands(str(page.relative_to(ROOT)))
    assert 'python tools/psa_infer.py configs/psa/affnet-mct_resnet38d_1xb8-5e_voc12aug-448x448.py ' \
        'work_dirs/affnet/epoch_5.pth --data-root data/VOCdevkit/VOC2012 --cam-dir work_dirs/mct_voc/cams ' \
        '--out-dir work_dirs/masks --cfg-options model.test_cfg.bg_threshold=0.39' in cmds
    assert not any('$' in c for c in cmds)
    assert script_and_flags('python tools/test.py CFG CKPT --cam-out d --scales 0.5 --eval-seeds') == (
        'tools/test.py', ['--cam-out', '--scales', '--eval-seeds'])
    assert script_and_flags('python -m pytest tests -q') == ('', [])


@pytest.mark.parametrize('page', COMMAND_PAGES)
def test_every_documented_command_is_exercised(page):
    """Each tool a page shows exists, and some test runs it with each flag the page shows.

    The pytest lanes must name markers of pytest.ini; install.sh is what .ci/run runs.
    """
    sources = _test_sources()
    markers = re.findall(r'^\s+(\w+):', (ROOT / 'pytest.ini').read_text(), re.M)
    problems = []
    for cmd in documented_commands(page):
        if cmd.startswith('python -m pytest'):
            words = shlex.split(cmd)[3:]  # after python -m pytest
            for expr in (words[i + 1] for i, w in enumerate(words[:-1]) if w == '-m'):
                problems += [f'{cmd}: no marker {m!r} in pytest.ini' for m in re.findall(r'\w+', expr)
                             if m not in markers + ['not', 'and', 'or']]
            continue
        if cmd.startswith('mkdocs '):
            continue  # this module builds the site
        script, flags = script_and_flags(cmd)
        if not script:
            problems.append(f'{cmd}: not a python/bash command of the repository')
            continue
        if not (ROOT / script).is_file():
            problems.append(f'{cmd}: {script} does not exist')
            continue
        if script == 'tools/install.sh':
            assert 'tools/install.sh' in (ROOT / '.ci' / 'run').read_text()
            continue
        users = [src for src in sources.values() if script in src or Path(script).name in src]
        if not users:
            problems.append(f'{cmd}: no test runs {script}')
            continue
        users += [src for src in sources.values() if script in FORWARDS and FORWARDS[script] in src]
        missing = [f for f in flags if not any(_uses(src, f) for src in users)]
        if missing:
            problems.append(f'{cmd}: no test of {script} uses {missing}')
    assert not problems, '\n'.join(problems)


@pytest.mark.slow
def test_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: no broken link, no page left out of the build,
    no docstring the API reference cannot parse."""
    res = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-d', str(tmp_path / 'site')],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    api = (tmp_path / 'site' / 'api' / 'index.html').read_text()
    for name in ('inference_cams', 'CAMInferencer', 'doei_update', 'DOEIConfig', 'CAMGenerationLoop'):
        assert name in api, f'the API reference lost {name}'
    assert (tmp_path / 'site' / 'user_guides' / 'notebook' / 'index.html').is_file()
