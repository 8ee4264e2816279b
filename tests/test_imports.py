"""The import graph: layers in order, no cycle (read from the source with ``ast``).

The package's layers, lowest first, are read from the :mod:`mmdoei` docstring
itself, so the order it documents is the order enforced. A module may import
from its own layer and lower ones, never from a higher one. Above the package
come the repository's other folders, in this order: ``projects/`` (the research
harness, issue 24), ``tools/`` (thin CLIs), ``benchmarks/``, and ``tests/``; the
package imports none of them, and none imports a higher one. What ``setup.py``
installs is the package alone (:func:`installed_packages`).
"""
import ast
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'mmdoei'
#: The folders above the package, lowest first: the research harness, then the scripts.
SCRIPT_LAYERS = ['projects', 'tools', 'benchmarks', 'tests']


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


def layer(module: str, rank: Dict[str, int] = LAYER) -> int:
    comp = component(module)
    return max(rank.values()) + 1 if comp == 'mmdoei' else rank[comp]


def ranks(layers: List[Set[str]]) -> Dict[str, int]:
    """``{component: layer index}`` of layers lowest first (``version`` sits with the lowest)."""
    return {'version': 0, **{name: i for i, names in enumerate(layers) for name in names}}


def upward_imports(graph, rank: Dict[str, int] = LAYER) -> List[str]:
    """One line per import from a lower layer to a higher one, under the layer order ``rank``."""
    return [f'{src} (line {line}) imports {dst}: layer {component(dst)!r} is above {component(src)!r}'
            for src, targets in graph.items() for dst, line in targets if layer(dst, rank) > layer(src, rank)]


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
    script.write_text("import runpy\nfrom tests.helpers import x\nrunpy.run_path('benchmarks/cam_forward.py')\n"
                      "spec_from_file_location('tool', osp.join(HERE, '../../tools/test.py'))\n")
    assert script_imports(script) == [('runpy', 1), ('tests', 2), ('benchmarks', 3), ('tools', 4)]
    script.write_text("import projects.wsss_lab.sweep\nfrom projects.wsss_lab import synthetic\n"
                      "importlib.import_module('projects.wsss_lab.data')\nrunpy.run_path('projects/wsss_lab/x.py')\n")
    assert script_imports(script) == [('projects', 1), ('projects', 2), ('projects', 3), ('projects', 4)]


def test_layers_are_read_from_the_docstring():
    # the parse of today's docstring, by hand: six layers, lowest first
    assert LAYERS == [{'utils', 'version'}, {'cam'}, {'doei'}, {'models', 'datasets', 'generators'},
                      {'evaluation', 'engine'}, {'apis', 'analysis'}]


def swapped(doc: str, low: str, high: str) -> str:
    """The docstring with the layer lines of ``low`` and ``high`` exchanged."""
    lines = doc.split('::\n\n', 1)[1].split('\n\n', 1)[0].splitlines()
    a, b = (next(line for line in lines if line.split()[0].rstrip(',') == name) for name in (low, high))
    return doc.replace(a, '@@').replace(b, a).replace('@@', b)


def test_a_swapped_docstring_would_fail():
    """The order is what the docstring says: with two layers swapped in it, the checker reports
    the package's real imports between them as upward, naming both layers."""
    doc = ast.get_docstring(ast.parse((PACKAGE / '__init__.py').read_text())) + '\n\n'
    graph = import_graph()
    layers = documented_layers(swapped(doc, 'utils', 'cam'))
    assert layers[:3] == [{'cam'}, {'utils'}, {'doei'}]
    bad = upward_imports(graph, ranks(layers))
    assert bad and all(line.endswith(": layer 'utils' is above 'cam'") for line in bad), bad
    assert any(line.startswith('mmdoei.cam.') and ' imports mmdoei.utils' in line for line in bad)
    # two layers further apart: apis/analysis (the top) and doei exchanged
    layers = documented_layers(swapped(doc, 'doei', 'apis'))
    assert layers[2] == {'apis', 'analysis'} and layers[5] == {'doei'}
    bad = upward_imports(graph, ranks(layers))
    pairs = {tuple(re.findall(r"'(\w+)'", line.rsplit(': layer ', 1)[1])) for line in bad}
    assert ('doei', 'models') in pairs and ('engine', 'apis') in pairs, pairs
    assert all(high == 'doei' or low in ('apis', 'analysis') for high, low in pairs), pairs


def script_imports(path: Path) -> List[Tuple[str, int]]:
    """Top-level names ``path`` imports or runs (``runpy.run_path('tools/...')``), with line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name.split('.')[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module.split('.')[0], node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # 'tools/x.py', also reached from a script's folder: '../../tools/test.py'; or a
            # module name for importlib: 'projects.wsss_lab.data'
            m = (re.match(r'(?:\.\./)*(projects|tools|benchmarks|tests)/\S+\.py$', node.value)
                 or re.match(r'(projects|tools|benchmarks|tests)(?:\.\w+)+$', node.value))
            if m:
                found.append((m.group(1), node.lineno))
    return found


def package_script_imports(package: Path = PACKAGE, root: Path = ROOT) -> List[str]:
    """One line per place where the package imports or runs anything of ``projects/``, ``tools/``,
    ``benchmarks/`` or ``tests/``."""
    return [f'{p.relative_to(root)} (line {line}) imports or runs {name}/'
            for p in sorted(package.rglob('*.py')) for name, line in script_imports(p) if name in SCRIPT_LAYERS]


def test_the_package_imports_no_script():
    bad = package_script_imports()
    assert not bad, '\n'.join(bad)


def test_a_planted_harness_import_in_the_package_would_fail(tmp_path):
    """The package importing the research harness or a tool, at the top or in a function, is
    reported with its file and line."""
    for rel, text in {
            'mmdoei/__init__.py': '',
            'mmdoei/apis/pipeline.py': ('import os\n\n\ndef data():\n'
                                        '    from projects.wsss_lab.data import ensure_synthetic_voc\n'),
            'mmdoei/analysis/__init__.py': 'import projects.wsss_lab.sweep as sweep\n',
            'mmdoei/utils/x.py': "import importlib\nimportlib.import_module('tools.run_pipeline')\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert package_script_imports(tmp_path / 'mmdoei', tmp_path) == [
        'mmdoei/analysis/__init__.py (line 1) imports or runs projects/',
        'mmdoei/apis/pipeline.py (line 5) imports or runs projects/',
        'mmdoei/utils/x.py (line 2) imports or runs tools/']


def script_problems(order: List[str] = SCRIPT_LAYERS, root: Path = ROOT) -> List[str]:
    """One line per script that imports or runs one of a higher folder, folders lowest first."""
    bad = []
    for i, folder in enumerate(order[:-1]):
        files = sorted((root / folder).rglob('*.py'))
        assert files, folder
        bad += [f'{p.relative_to(root)} (line {line}) imports or runs {name}/: {name}/ is above {folder}/'
                for p in files for name, line in script_imports(p) if name in order[i + 1:]]
    return bad


def test_scripts_import_no_higher_script():
    assert script_problems() == []


def test_a_swapped_script_order_would_fail():
    """tools/ below benchmarks/ is the order: swapped, the benchmark that runs our CAM tool
    (benchmarks/cam_throughput.py loads tools/test.py) is reported, naming both folders."""
    bad = script_problems(['benchmarks', 'tools', 'tests'])
    assert bad and all(line.endswith('tools/ is above benchmarks/') for line in bad), bad
    assert any(line.startswith('benchmarks/cam_throughput.py (line ') for line in bad), bad
    # projects/ is below tools/: the tools that use the harness would be reported if it were above
    bad = script_problems(['tools', 'projects', 'benchmarks', 'tests'])
    assert bad and all(line.endswith('projects/ is above tools/') for line in bad), bad
    assert any(line.startswith('tools/run_pipeline.py (line ') for line in bad), bad
    assert any(line.startswith('tools/analysis_tools/doei_sweep.py (line ') for line in bad), bad


def test_the_harness_imports_the_package():
    """projects/ sits on top of mmdoei: its modules import the package (what the layer order allows)."""
    imported = {name for p in (ROOT / 'projects').rglob('*.py') for name, _ in script_imports(p)}
    assert 'mmdoei' in imported and not imported & {'tools', 'benchmarks', 'tests'}, imported


# --------------------------------------------------------------------------- what pip installs

def setup_exclude(setup_py: Path = ROOT / 'setup.py') -> tuple:
    """The ``exclude`` tuple of setup.py's ``find_packages(...)`` call, read from its source (setup() is not run)."""
    (call, ) = [n for n in ast.walk(ast.parse(setup_py.read_text())) if isinstance(n, ast.Call)
                and getattr(n.func, 'id', None) == 'find_packages']
    (exclude, ) = [k.value for k in call.keywords if k.arg == 'exclude']
    return ast.literal_eval(exclude)


def installed_packages(exclude: tuple, root: Path = ROOT) -> Dict[str, List[str]]:
    """``{package: its modules}`` of ``find_packages(root, exclude=exclude)``, as setup.py evaluates it."""
    import setuptools
    packages = setuptools.find_packages(str(root), exclude=exclude)
    return {pkg: sorted(f'{pkg}.{p.stem}' for p in (root / pkg.replace('.', '/')).glob('*.py') if p.stem != '__init__')
            for pkg in packages}


def test_pip_installs_the_plugin_and_no_harness():
    packages = installed_packages(setup_exclude())
    assert packages and all(p == 'mmdoei' or p.startswith('mmdoei.') for p in packages), sorted(packages)
    modules = {m for mods in packages.values() for m in mods}
    assert 'mmdoei.apis.pipeline' in modules and 'mmdoei.generators.procedural' in modules  # the plugin is there
    # the harness's modules at their old places in the package (issue 24) are gone
    gone = {f'mmdoei.{m}' for m in ('analysis.sweep', 'generators.synthetic', 'generators.standin_cams')}
    assert not modules & gone, sorted(modules & gone)


def test_without_the_exclusion_the_harness_would_be_installed():
    """The check above can fail: dropping 'projects' from setup.py's exclude installs the harness."""
    exclude = tuple(e for e in setup_exclude() if not e.startswith('projects'))
    assert {'projects', 'projects.wsss_lab'} <= set(installed_packages(exclude))
    assert 'projects.wsss_lab.sweep' in installed_packages(exclude)['projects.wsss_lab']
