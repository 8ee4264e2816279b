"""The import graph: layers in order, no cycle (read from the source with ``ast``).

The package's layers, lowest first, are read from the :mod:`mmdoei` docstring
itself, so the order it documents is the order enforced. A module may import
from its own layer and lower ones, never from a higher one. Above the package
come the scripts, in this order: ``tools/`` (thin CLIs), ``benchmarks/``, and
``tests/``; the package imports none of them, and a script never imports a
higher one.
"""
import ast
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'mmdoei'
#: The folders of scripts above the package, lowest first.
SCRIPT_LAYERS = ['tools', 'benchmarks', 'tests']


def documented_layers(doc: str) -> List[Set[str]]:
    """The layers of the package docstring's literal block, lowest first: a line
    per layer (its names before the description), an indented line continuing it."""
    block = doc.split('::\n\n', 1)[1].split('\n\n', 1)[0]
    layers: List[Set[str]] = []
    for line in block.splitlines():
        names = {n.strip() for n in re.split(r'\s{2,}', line.strip())[0].split(',') if n.strip()}
        if line.startswith(' ' * 6) and layers:
            layers[-1] |= names
        else:
            layers.append(names)
    return layers


LAYERS = documented_layers(ast.get_docstring(ast.parse((PACKAGE / '__init__.py').read_text())) + '\n\n')
LAYERS[0].add('version')  # the version string sits with utils: it imports nothing
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def imports_of(path: Path, root: Path, modules: Set[str]) -> List[Tuple[str, int]]:
    """The mmdoei modules ``path`` imports (anywhere in it, functions included), with line numbers."""
    name = module_name(path, root)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                prefix = '.'.join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            # ``from pkg import sub`` imports the module pkg.sub when there is one
            targets = [f'{prefix}.{a.name}' if f'{prefix}.{a.name}' in modules else prefix for a in node.names]
        else:
            continue
        found += [(t, node.lineno) for t in targets if t == 'mmdoei' or t.startswith('mmdoei.')]
    return found


def import_graph(root: Path = PACKAGE) -> Dict[str, List[Tuple[str, int]]]:
    files = {module_name(p, root): p for p in root.rglob('*.py')}
    return {name: imports_of(path, root, set(files)) for name, path in files.items()}


def component(module: str) -> str:
    """``mmdoei.models.heads.x`` -> ``models``; the package itself -> ``mmdoei``."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else 'mmdoei'


def layer(module: str) -> int:
    comp = component(module)
    return len(LAYERS) if comp == 'mmdoei' else LAYER[comp]


def upward_imports(graph) -> List[str]:
    return [f'{src} (line {line}) imports {dst}: layer {component(dst)!r} is above {component(src)!r}'
            for src, targets in graph.items() for dst, line in targets if layer(dst) > layer(src)]


def find_cycle(edges: Dict[str, Set[str]]) -> List[str]:
    """One cycle of the directed graph (as a path that returns to its start), or []."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_every_component_has_a_layer():
    components = {component(m) for m in import_graph()} - {'mmdoei'}
    assert components <= set(LAYER), f'components without a layer: {sorted(components - set(LAYER))}'


def test_no_upward_import():
    bad = upward_imports(import_graph())
    assert not bad, 'imports from a lower layer to a higher one:\n' + '\n'.join(bad)


def test_no_import_cycle_between_modules_or_components():
    graph = import_graph()
    modules = {src: {dst for dst, _ in targets if dst != src} for src, targets in graph.items()}
    assert find_cycle(modules) == []
    components: Dict[str, Set[str]] = {}
    for src, targets in modules.items():
        components.setdefault(component(src), set()).update(
            component(d) for d in targets if component(d) != component(src))
    components.pop('mmdoei')  # the package's __init__ imports every component: it is the top
    assert find_cycle(components) == []


def test_the_checks_catch_what_they_are_for(tmp_path):
    """On a small package: an upward import and a cycle are reported, with the file and line."""
    root = tmp_path / 'mmdoei'
    for rel, text in {
            '__init__.py': '',
            'utils/__init__.py': '',
            'utils/io.py': 'import os\n',
            'cam/__init__.py': 'from .io import x\n',
            'cam/io.py': 'from mmdoei.utils.io import os\nfrom mmdoei.evaluation import metric\n',
            'evaluation/__init__.py': '',
            'evaluation/metric.py': 'from ..cam import io\n',
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    graph = import_graph(root)
    assert upward_imports(graph) == [
        "mmdoei.cam.io (line 2) imports mmdoei.evaluation.metric: layer 'evaluation' is above 'cam'"]
    modules = {src: {dst for dst, _ in targets} for src, targets in graph.items()}
    assert find_cycle(modules) == ['mmdoei.cam.io', 'mmdoei.evaluation.metric', 'mmdoei.cam.io']
    script = tmp_path / 'tool.py'
    script.write_text("import runpy\nfrom tests.helpers import x\nrunpy.run_path('benchmarks/cam_forward.py')\n")
    assert [n for n, _ in script_imports(script)] == ['runpy', 'tests', 'benchmarks']


def test_layers_are_read_from_the_docstring():
    # the parse of today's docstring, by hand: six layers, lowest first
    assert LAYERS == [{'utils', 'version'}, {'cam'}, {'doei'}, {'models', 'datasets', 'generators'},
                      {'evaluation', 'engine'}, {'apis', 'analysis'}]


def test_a_swapped_docstring_would_fail():
    """Swapping two documented layers changes the rules: the real imports then go upward."""
    doc = ast.get_docstring(ast.parse((PACKAGE / '__init__.py').read_text())) + '\n\n'
    lines = doc.split('::\n\n', 1)[1].split('\n\n', 1)[0].splitlines()
    utils, cam = (next(line for line in lines if line.split()[0] == name) for name in ('utils', 'cam'))
    swapped = doc.replace(utils, '@@').replace(cam, utils).replace('@@', cam)
    layers = documented_layers(swapped)
    assert layers[0] == {'cam'} and layers[1] == {'utils'}
    rank = {name: i for i, names in enumerate(layers) for name in names} | {'version': 0}
    graph = import_graph()
    assert any(rank[component(dst)] > rank[component(src)] for src, targets in graph.items()
               for dst, _ in targets if component(src) != 'mmdoei' and component(dst) != 'mmdoei')


def script_imports(path: Path) -> List[Tuple[str, int]]:
    """Top-level names ``path`` imports or runs (``runpy.run_path('tools/...')``), with line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name.split('.')[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module.split('.')[0], node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.match(r'(tools|benchmarks|tests)/\S+\.py$', node.value)
            if m:
                found.append((m.group(1), node.lineno))
    return found


def test_the_package_imports_no_script():
    bad = [f'{p.relative_to(ROOT)} (line {line}) imports or runs {name}/'
           for p in PACKAGE.rglob('*.py') for name, line in script_imports(p) if name in SCRIPT_LAYERS]
    assert not bad, '\n'.join(bad)


@pytest.mark.parametrize('folder', SCRIPT_LAYERS[:-1])
def test_scripts_import_no_higher_script(folder):
    higher = SCRIPT_LAYERS[SCRIPT_LAYERS.index(folder) + 1:]
    files = sorted((ROOT / folder).rglob('*.py'))
    assert files, folder
    bad = [f'{p.relative_to(ROOT)} (line {line}) imports or runs {name}/'
           for p in files for name, line in script_imports(p) if name in higher]
    assert not bad, '\n'.join(bad)
