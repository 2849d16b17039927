"""Reading a tool's config and checking its ``--cfg-options`` keys.

mmengine reads a config file with a traceback that does not name the file
(a syntax error in a ``_base_`` file), and merges any ``--cfg-options`` key:
a misspelt or top-level key (``max_iters=10`` where the loop reads
``train_cfg.max_iters``) is silently ignored, or fails only when the object
is built or, for a hook, first used. Here, before anything is built:

* :func:`load_config` names the file and line of a syntax error;
* :func:`check_options` refuses a key that no config reads: a top-level key
  the Runner does not read, or a key new to a section whose registered
  class (``type``) takes no argument of that name. The error names the
  nearest real key (:mod:`difflib`).
"""
import ast
import difflib
import inspect
import os.path as osp
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config

# Top-level keys read outside Runner.__init__'s arguments.
EXTRA_TOP_LEVEL = ('runner_type', 'custom_imports', 'vis_backends',
                   'tta_model', 'tta_pipeline', 'backend_args')
# Registry (mmengine.registry name) of the objects each section builds.
SECTION_REGISTRY = {
    'model': 'MODELS', 'default_hooks': 'HOOKS', 'custom_hooks': 'HOOKS',
    'optim_wrapper': 'OPTIM_WRAPPERS', 'param_scheduler': 'PARAM_SCHEDULERS',
    'train_cfg': 'LOOPS', 'val_cfg': 'LOOPS', 'test_cfg': 'LOOPS',
    'visualizer': 'VISUALIZERS', 'vis_backends': 'VISBACKENDS',
    'log_processor': 'LOG_PROCESSORS', 'val_evaluator': 'METRICS',
    'test_evaluator': 'METRICS',
}
# Registry of a typed dict under a given key, wherever it sits.
KEY_REGISTRY = {
    'optimizer': 'OPTIMIZERS', 'dataset': 'DATASETS',
    'sampler': 'DATA_SAMPLERS', 'batch_sampler': 'DATA_SAMPLERS',
    'pipeline': 'TRANSFORMS', 'vis_backends': 'VISBACKENDS',
}
DATALOADER_EXTRA = ('dataset', 'sampler', 'batch_sampler', 'collate_fn',
                    'worker_init_fn')


class ConfigError(ValueError):
    """A config file or ``--cfg-options`` key that no run can use."""


def _syntax_error_in(path: str, seen: set) -> Optional[str]:
    """'FILE, line N: MESSAGE' for the first file among ``path`` and its
    local ``_base_`` files that Python cannot parse."""
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path) or not path.endswith('.py'):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as e:
        return f'{path}, line {e.lineno}: {e.msg}'
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else bases:
                if '::' not in base:
                    found = _syntax_error_in(
                        osp.join(osp.dirname(path), base), seen)
                    if found:
                        return found
    return None


def load_config(path: str) -> Config:
    """``Config.fromfile(path)``; a missing file or a syntax error (in it or
    a ``_base_`` file) is a :class:`ConfigError` naming the file."""
    if not osp.isfile(path):
        hint = ' (a folder: give the .py config inside it)' if osp.isdir(
            path) else ''
        raise ConfigError(f'config file {path!r} does not exist{hint}; '
                          'the configs are under configs/')
    try:
        with warnings.catch_warnings():
            # mmengine 0.10.7 imports pkg_resources to resolve mmdet:: /
            # mmseg:: bases; setuptools' deprecation notice is not the
            # user's to fix.
            warnings.filterwarnings('ignore',
                                    message='pkg_resources is deprecated',
                                    category=UserWarning)
            return Config.fromfile(path)
    except SyntaxError as e:
        where = _syntax_error_in(path, set()) or f'{path}: {e}'
        raise ConfigError(f'syntax error in config {where}') from None


def _walk(node: Any, prefix: str = '') -> Iterator[Tuple[str, Any]]:
    """(dotted path, value) of every key and list item below ``node``."""
    items = node.items() if isinstance(node, dict) else enumerate(
        node) if isinstance(node, (list, tuple)) else ()
    for key, value in items:
        path = f'{prefix}{key}'
        yield path, value
        yield from _walk(value, path + '.')


def nearest_key(key: str, cfg: dict) -> Optional[str]:
    """The real key of ``cfg`` closest to ``key``: one with the same last
    name if any (``max_iters`` -> ``train_cfg.max_iters``), else the most
    similar dotted path."""
    paths = [p for p, _ in _walk(cfg) if p != key]
    leaf = key.rsplit('.', 1)[-1]
    same = [p for p in paths if p.rsplit('.', 1)[-1] == leaf]
    ratio = lambda p: difflib.SequenceMatcher(None, key, p).ratio()  # noqa
    if same:
        return max(same, key=ratio)
    close = difflib.get_close_matches(key, paths, n=1, cutoff=0.6)
    return close[0] if close else None


def accepted_arguments(obj: Callable) -> Optional[set]:
    """The keyword arguments ``obj`` (a class or function) takes, following
    ``**kwargs`` up a class's bases; None when it forwards them somewhere
    that cannot be inspected."""
    names: set = set()
    chain = [c for c in obj.__mro__ if '__init__' in vars(c)] if \
        inspect.isclass(obj) else [obj]
    for fn in chain:
        if fn is object:
            return names
        try:
            params = inspect.signature(
                fn.__init__ if inspect.isclass(fn) else fn).parameters
        except (TypeError, ValueError):
            return None
        names |= {n for n, p in params.items() if p.kind in (
            p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return names
    return None if inspect.isclass(obj) else names


def _registered(registry_name: str, type_name: Any,
                scope: str) -> Optional[Callable]:
    """The class ``type_name`` names in mmengine's registry ``registry_name``
    under ``scope`` (the config's ``default_scope``), or None."""
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    import mmengine.registry as registries
    registry = getattr(registries, registry_name, None)
    if registry is None:
        return None
    try:
        with registry.switch_scope_and_registry(scope) as found:
            return found.get(type_name)
    except Exception:  # an unimportable scope: leave it to the build
        return None


def _reader(cfg: dict, parts: List[str]) -> Optional[Callable]:
    """What reads the dict at ``parts`` of ``cfg`` (a registered class, the
    DataLoader, Runner.set_randomness), or None when unknown."""
    node: Any = cfg
    for part in parts:
        node = node[int(part)] if isinstance(node, (list, tuple)) else \
            node[part]
    top = parts[0] if parts else ''
    if 'type' in node:
        key = next((p for p in reversed(parts) if not p.isdigit()), '')
        registry = KEY_REGISTRY.get(key) or SECTION_REGISTRY.get(top)
        scope = cfg.get('default_scope') or 'mmengine'
        return _registered(registry, node['type'], scope) if registry \
            else None
    if len(parts) == 1 and top.endswith('_dataloader'):
        from torch.utils.data import DataLoader
        return DataLoader
    if parts == ['randomness']:
        from mmengine.runner import Runner
        return Runner.set_randomness
    if parts == ['train_cfg']:
        from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
        return EpochBasedTrainLoop if node.get('by_epoch', True) else \
            IterBasedTrainLoop
    return None


def _allowed_extra(parts: List[str]) -> Tuple[str, ...]:
    """Keys mmengine takes out of the dict at ``parts`` before building."""
    if len(parts) == 1 and parts[0].endswith('_dataloader'):
        return DATALOADER_EXTRA
    if parts == ['train_cfg']:
        return ('by_epoch', 'type')
    return ('type', )


def unknown_option(cfg: dict, key: str, top_level: Tuple[str, ...]
                   ) -> Optional[str]:
    """Why ``key`` (dotted) is read by nothing in ``cfg``, or None."""
    parts = key.split('.')
    if parts[0] not in top_level:
        if parts[0] in cfg:
            return (f'{parts[0]!r} is a variable of the config file, used '
                    'only while the file is read; setting it afterwards '
                    'changes nothing')
        return f'no config section {parts[0]!r}'
    node: Any = cfg
    for i, part in enumerate(parts):
        if isinstance(node, (list, tuple)) and part.isdigit() and \
                int(part) < len(node):
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            return None  # replaces a value with a dict: mmengine decides
        if part in node:
            node = node[part]
            continue
        if i == 0:
            return None
        reader = _reader(cfg, parts[:i])
        names = accepted_arguments(reader) if reader is not None else None
        if names is None or part in names or \
                part in _allowed_extra(parts[:i]):
            return None
        what = getattr(reader, '__qualname__', str(reader))
        return f'{what} takes no argument {part!r}'
    return None


def runner_keys() -> Tuple[str, ...]:
    """The top-level config keys a tool's Runner reads."""
    from mmengine.runner import Runner
    params = inspect.signature(Runner.__init__).parameters
    return tuple(n for n in params if n != 'self') + EXTRA_TOP_LEVEL


def check_options(cfg: Config, options: Optional[Dict[str, Any]],
                  extra_keys: Tuple[str, ...] = ()) -> None:
    """Raise :class:`ConfigError` for the first ``--cfg-options`` key that
    nothing reads (checked against ``cfg`` before the options are merged),
    naming the nearest real key. ``extra_keys``: top-level keys the tool
    itself reads."""
    if not options:
        return
    # a section's new type (train_cfg.type=IterBasedTrainLoop) decides
    # which arguments its other keys may name
    types = {k: v for k, v in options.items() if k.endswith('.type')}
    probe = Config(cfg.to_dict())
    if types:
        probe.merge_from_dict(types)
    plain = probe.to_dict()
    top_level = runner_keys() + tuple(extra_keys)
    for key in options:
        why = unknown_option(plain, key, top_level)
        if why is None:
            continue
        near = nearest_key(key, plain)
        hint = f'; did you mean {near}?' if near else ''
        raise ConfigError(f'--cfg-options {key}: no config reads this key '
                          f'({why}){hint}')
