"""Read the tensors of a TorchScript archive without running its code.

Why this exists: OpenAI ships CLIP as a TorchScript archive (``ViT-B-16.pt``)
and the only stock readers, ``torch.jit.load`` (which OpenAI's ``clip.load``
and open_clip call), compile the TorchScript source stored in the archive:
opening a downloaded teacher file would run code from it. ``torch.load``
cannot read these archives (``weights_only`` rejects the ``__torch__``
classes). So the teacher loader reads them here, with nothing imported,
compiled or executed.

A TorchScript archive is a zip: ``data.pkl`` pickles the module tree (objects
of ``__torch__.*`` classes whose attributes are tensors, sub-modules and plain
values), ``data/<key>`` hold the raw tensor storages and ``code/`` the source,
where each class declares its ``__parameters__`` and ``__buffers__``.
``data.pkl`` is unpickled with an allow-list (tensor rebuild, storage types,
``OrderedDict``, TorchScript list/type helpers; every ``__torch__`` class
becomes an inert record), the storages are read directly and the parameter /
buffer names come from the ``code/`` declarations by text matching.
"""
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]

# TorchScript storage class names -> dtypes (what ``torch.jit.save`` writes).
_STORAGE_DTYPES = {
    'FloatStorage': torch.float32, 'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16, 'DoubleStorage': torch.float64,
    'LongStorage': torch.int64, 'IntStorage': torch.int32,
    'ShortStorage': torch.int16, 'CharStorage': torch.int8,
    'ByteStorage': torch.uint8, 'BoolStorage': torch.bool,
}
_CLASS_RE = re.compile(r'^class (\w+)\(Module\):\n((?:  .*\n|\n)*)', re.M)


def is_torchscript_archive(path: str) -> bool:
    """True for a ``torch.jit.save`` zip (it has ``<root>/code/`` files)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any('/code/' in n for n in zf.namelist())


class _Record:
    """Stand-in for a TorchScript class instance: only holds state."""
    qualname = ''

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__['_state'] = state


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False,
                    hooks=None, metadata=None):
    return storage.as_strided(size, stride, offset).clone()


def _identity(x, *args):
    return x


_ALLOWED = {
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('collections', 'OrderedDict'): OrderedDict,
    **{('torch.jit._pickle', name): _identity
       for name in ('build_intlist', 'build_tensorlist', 'build_doublelist',
                    'build_boollist', 'build_genericlist',
                    'restore_type_tag')},
}


def _declarations(zf: zipfile.ZipFile, root: str
                  ) -> Dict[str, Tuple[Optional[List[str]],
                                       Optional[List[str]]]]:
    """class qualname -> (parameters, buffers) from the ``code/`` files."""
    declared = {}
    list_re = r'^  {}\s*=\s*\[(.*?)\]'
    for name in zf.namelist():
        if not (name.startswith(f'{root}/code/') and name.endswith('.py')):
            continue
        module = name[len(f'{root}/code/'):-3].replace('/', '.')
        text = zf.read(name).decode('utf-8', 'replace')
        for m in _CLASS_RE.finditer(text):
            lists = []
            for field in ('__parameters__', '__buffers__'):
                f = re.search(list_re.format(field), m.group(2), re.M)
                lists.append(re.findall(r'"([^"]+)"', f.group(1)) if f else
                             None)
            declared[f'{module}.{m.group(1)}'] = tuple(lists)
    return declared


class _Unpickler(pickle.Unpickler):
    """``data.pkl`` reader: allow-listed globals, inert ``__torch__``
    records, storages read from the zip."""

    def __init__(self, file, zf: zipfile.ZipFile, root: str,
                 path: str) -> None:
        super().__init__(file)
        self.zf, self.root, self.path = zf, root, path
        self.records: Dict[str, type] = {}
        self.storages: Dict[str, Tensor] = {}

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == '__torch__' or module.startswith('__torch__.'):
            qual = f'{module}.{name}'
            if qual not in self.records:
                self.records[qual] = type(name, (_Record, ),
                                          dict(qualname=qual))
            return self.records[qual]
        raise pickle.UnpicklingError(
            f'{self.path!r}: TorchScript archive refers to {module}.{name}, '
            'which a weights-only reader does not allow')

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == 'storage'):
            raise pickle.UnpicklingError(f'unsupported persistent id '
                                         f'{pid!r} in {self.path!r}')
        dtype, key = pid[1], str(pid[2])
        if key not in self.storages:
            raw = bytearray(self.zf.read(f'{self.root}/data/{key}'))
            self.storages[key] = (torch.frombuffer(raw, dtype=dtype) if raw
                                  else torch.empty(0, dtype=dtype))
        return self.storages[key]


def _collect(rec: _Record, prefix: str, declared: dict,
             out: StateDict) -> None:
    """Parameters and buffers of a record tree, named like
    ``state_dict()``."""
    params, buffers = declared.get(rec.qualname, (None, None))
    state = rec.__dict__
    if params is None:  # undeclared class: every tensor attribute
        names = [k for k, v in state.items() if isinstance(v, Tensor)]
    else:
        names = list(params) + list(buffers or [])
    for k in names:
        if isinstance(state.get(k), Tensor):
            out[prefix + k] = state[k]
    for k, v in state.items():
        if isinstance(v, _Record):
            _collect(v, f'{prefix}{k}.', declared, out)


def read_torchscript_state_dict(path: str) -> StateDict:
    """``torch.jit.load(path).state_dict()`` without running any code (see
    the module docstring)."""
    with zipfile.ZipFile(path) as zf:
        data_pkl = [n for n in zf.namelist()
                    if n.endswith('/data.pkl') and n.count('/') == 1]
        if not data_pkl:
            raise ValueError(f'{path!r} is not a TorchScript archive (no '
                             'data.pkl)')
        root = data_pkl[0].split('/')[0]
        byteorder = f'{root}/byteorder'
        if byteorder in zf.namelist() and \
                zf.read(byteorder).strip() != b'little':
            raise ValueError(f'{path!r}: big-endian TorchScript archives are '
                             'not supported')
        declared = _declarations(zf, root)
        with zf.open(data_pkl[0]) as f:
            top = _Unpickler(f, zf, root, path).load()
    if not isinstance(top, _Record):
        raise ValueError(f'{path!r}: data.pkl does not hold a module')
    out: StateDict = OrderedDict()
    _collect(top, '', declared, out)
    return out
