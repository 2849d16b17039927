"""The package's layers: what ``import semaim_mm`` loads, an import graph
without cycles in which ``datasets`` never reaches ``engine`` and nothing
imports ``tools``, and configs whose ``custom_imports`` register every
project type they name.

The graph is read from the source with ``ast``: every ``import`` and ``from
... import``, function-level (lazy) ones included. Importing ``a.b.c`` also
runs the ``__init__`` of its packages, so an edge to ``a.b.c`` adds edges to
``a.b`` and ``a`` too, except to the root package and to the importer's own
packages (both are already being imported then).
"""
import ast
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, Iterator, List, Optional, Set

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = 'semaim_mm'

# `import semaim_mm`: the shims, the models, the checkpoint formats, the
# model index, and the leaf helpers the models use. Nothing of the engine,
# evaluation, datasets, det, seg, reproduce or the benchmark.
MODEL_ONLY = {
    'semaim_mm', 'semaim_mm.compat', 'semaim_mm.model_index',
    'semaim_mm.kernels', 'semaim_mm.seeding', 'semaim_mm.utils',
    'semaim_mm.profiling', 'semaim_mm.profiling.phases',
    'semaim_mm.checkpoints', 'semaim_mm.checkpoints.integrity',
    'semaim_mm.checkpoints.keys', 'semaim_mm.checkpoints.loading',
    'semaim_mm.checkpoints.reference', 'semaim_mm.checkpoints.teachers',
    'semaim_mm.checkpoints.torchscript_reader',
    'semaim_mm.models', 'semaim_mm.models.algorithm',
    'semaim_mm.models.attention', 'semaim_mm.models.decoder',
    'semaim_mm.models.head', 'semaim_mm.models.orders',
    'semaim_mm.models.precision', 'semaim_mm.models.targets',
    'semaim_mm.models.teachers', 'semaim_mm.models.vit',
}


def package_modules(root: str = ROOT) -> Dict[str, str]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for folder, _, files in os.walk(osp.join(root, PACKAGE)):
        for name in files:
            if not name.endswith('.py'):
                continue
            rel = osp.relpath(osp.join(folder, name), root)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            modules['.'.join(parts)] = osp.join(folder, name)
    return modules


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from`` import names."""
    if not node.level:
        return node.module or ''
    parts = module.split('.')
    base = parts if is_package else parts[:-1]
    base = base[:len(base) - node.level + 1]
    return '.'.join(base + ([node.module] if node.module else []))


def _executed_nodes(tree: ast.AST, lazy: bool = True) -> Iterator[ast.AST]:
    """Every node of ``tree`` (with ``lazy``: type-only imports under
    ``if TYPE_CHECKING:`` count, they are dependencies too); without
    ``lazy``, only what importing the module runs: nothing inside a
    function or under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if not lazy and isinstance(node, ast.If) and \
                'TYPE_CHECKING' in ast.dump(node.test):
            for child in node.orelse:
                yield child
                yield from _executed_nodes(child, lazy)
            continue
        yield node
        if lazy or not isinstance(node, (ast.FunctionDef,
                                         ast.AsyncFunctionDef, ast.Lambda)):
            yield from _executed_nodes(node, lazy)


def imported(module: str, path: str, modules: Dict[str, str],
             lazy: bool = True) -> Set[str]:
    """The modules of the package that ``module`` imports anywhere in its
    source (only at import time without ``lazy``), with the packages
    importing them runs (see the docstring)."""
    is_package = path.endswith('__init__.py')
    explicit: Set[str] = set()
    for node in _executed_nodes(ast.parse(open(path).read(), path), lazy):
        if isinstance(node, ast.Import):
            explicit.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node)
            explicit.add(target)
            # `from pkg import sub` imports the module pkg.sub
            explicit.update(f'{target}.{a.name}' for a in node.names
                            if f'{target}.{a.name}' in modules)
    own = {module.rsplit('.', i)[0] for i in range(module.count('.') + 1)}
    edges = set()
    for target in explicit:
        if target not in modules:
            continue
        edges.add(target)
        parts = target.split('.')
        for i in range(2, len(parts)):
            parent = '.'.join(parts[:i])
            if parent not in own:
                edges.add(parent)
    edges.discard(module)
    return edges


def import_graph(root: str = ROOT, lazy: bool = True) -> Dict[str, Set[str]]:
    modules = package_modules(root)
    return {m: imported(m, p, modules, lazy) for m, p in modules.items()}


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle of ``graph`` as a path (first == last), or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def reachable(graph: Dict[str, Set[str]], start: str) -> Set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_import_graph_has_no_cycle():
    assert find_cycle(import_graph()) is None


def test_cycle_finder_sees_a_hidden_cycle():
    graph = {'semaim_mm.checkpoints.reference': {'semaim_mm.models.targets',
                                                 'semaim_mm.models'},
             'semaim_mm.models': {'semaim_mm.models.vit'},
             'semaim_mm.models.vit': {'semaim_mm.checkpoints'},
             'semaim_mm.checkpoints': {'semaim_mm.checkpoints.reference'}}
    assert find_cycle(graph) == [
        'semaim_mm.checkpoints', 'semaim_mm.checkpoints.reference',
        'semaim_mm.models', 'semaim_mm.models.vit', 'semaim_mm.checkpoints']


def test_lazy_relative_import_is_an_edge(tmp_path):
    pkg = tmp_path / PACKAGE / 'checkpoints'
    pkg.mkdir(parents=True)
    (tmp_path / PACKAGE / '__init__.py').write_text('')
    (tmp_path / PACKAGE / 'models').mkdir()
    (tmp_path / PACKAGE / 'models' / '__init__.py').write_text('')
    (tmp_path / PACKAGE / 'models' / 'targets.py').write_text('')
    (pkg / '__init__.py').write_text('from . import reference\n')
    (pkg / 'reference.py').write_text(
        'def f():\n    from ..models.targets import kernel\n')
    graph = import_graph(str(tmp_path))
    assert graph['semaim_mm.checkpoints.reference'] == {
        'semaim_mm.models', 'semaim_mm.models.targets'}
    assert graph['semaim_mm.checkpoints'] == {
        'semaim_mm.checkpoints.reference'}


def test_datasets_never_reach_the_engine():
    graph = import_graph()
    for module in graph:
        if module.startswith('semaim_mm.datasets'):
            engine = {m for m in reachable(graph, module)
                      if m.startswith('semaim_mm.engine')}
            assert not engine, (module, engine)


def test_nothing_in_the_package_imports_tools():
    for module, path in package_modules().items():
        for node in ast.walk(ast.parse(open(path).read(), path)):
            names = ([a.name for a in node.names] if isinstance(
                node, ast.Import) else [node.module or ''] if isinstance(
                    node, ast.ImportFrom) and not node.level else [])
            assert not [n for n in names if n.split('.')[0] == 'tools'], \
                module


def test_import_semaim_mm_loads_only_the_models():
    code = ('import sys, semaim_mm, mmpretrain\n'
            "print(' '.join(sorted(m for m in sys.modules if m == "
            "'semaim_mm' or m.startswith('semaim_mm.'))))\n"
            "print(len(mmpretrain.list_models('semaim*')) > 0)\n")
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    loaded, indexed = out.stdout.splitlines()[-2:]
    assert set(loaded.split()) == MODEL_ONLY
    assert indexed == 'True'


def registered_names() -> Dict[str, str]:
    """Class / function name -> the module whose ``@X.register_module()``
    registers it."""
    names = {}
    for module, path in package_modules().items():
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and any(
                    isinstance(d, ast.Call) and isinstance(
                        d.func, ast.Attribute)
                    and d.func.attr == 'register_module'
                    for d in node.decorator_list):
                names[node.name] = module
    return names


def config_types(node) -> Iterator[str]:
    """Every ``type`` string in a config, scope prefixes dropped."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type'].rsplit('.', 1)[-1]
        for value in node.values():
            yield from config_types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from config_types(value)


def test_custom_imports_register_every_project_type():
    """A config names only project types that importing ``semaim_mm`` and
    its ``custom_imports`` registers (module-level imports: what a fresh
    process gets from ``Config.fromfile``)."""
    import glob
    import warnings

    from mmengine.config import Config
    graph = import_graph(lazy=False)
    registered = registered_names()
    paths = [p for p in sorted(glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))
        if not {'_base_', 'reproduce'} & set(p.split(os.sep))]
    assert len(paths) > 30
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            cfg = Config.fromfile(path, import_custom_modules=False)
        imports = ['semaim_mm'] + list(
            (cfg.get('custom_imports') or {}).get('imports', []))
        loaded = set(imports).union(*(reachable(graph, m) for m in imports))
        missing = {t: registered[t] for t in config_types(cfg.to_dict())
                   if t in registered and registered[t] not in loaded}
        assert not missing, (osp.relpath(path, ROOT), missing)
