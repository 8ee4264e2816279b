"""The package's import graph: layers in order, no cycle (read from the source with ``ast``).

The layers, lowest first, as the :mod:`mmdoei` docstring states them. A
module may import from its own layer and lower ones, never from a higher one.
"""
import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'mmdoei'
LAYERS = [
    {'utils', 'version'},
    {'cam'},
    {'doei'},
    {'models', 'datasets', 'generators'},
    {'evaluation', 'engine'},
    {'apis', 'analysis'},
]
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


@pytest.mark.parametrize('name', sorted(LAYER))
def test_layers_are_the_documented_ones(name):
    """The order here is the one the package docstring gives."""
    doc = (PACKAGE / '__init__.py').read_text()
    assert name in doc.split('Registration policy')[0] or name == 'version'
