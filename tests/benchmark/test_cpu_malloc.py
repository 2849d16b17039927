"""semaim_mm.cpu_malloc: freed tensor memory is reused without page faults."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from semaim_mm import cpu_malloc

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Two training-like steps (activations of mixed sizes kept alive, then all
# freed) after a first one; count the minor page faults of the two.
SIZES_MIB = (1, 3, 2, 6, 4, 8, 5, 12)
PROBE = """
import json, resource, sys, torch
from semaim_mm.cpu_malloc import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == 'keep' else False
def step():
    saved = []
    for mib in %r:
        x = torch.empty(mib * 2**18); x.fill_(1.0); saved.append(x)
    del saved
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step(); step()
print(json.dumps(dict(kept=kept, faults=resource.getrusage(
    resource.RUSAGE_SELF).ru_minflt - before)))
""" % (SIZES_MIB,)


def is_allocator_var(key: str) -> bool:
    return key.startswith('MALLOC_') or key in ('LD_PRELOAD',
                                                'GLIBC_TUNABLES')


def run_probe(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not is_allocator_var(k)}
    env['PYTHONPATH'] = ROOT
    out = subprocess.run([sys.executable, '-c', PROBE, mode], env=env,
                         capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform != 'linux', reason='glibc mallopt')
def test_freed_memory_is_reused_without_faults():
    default, keep = run_probe('default'), run_probe('keep')
    assert keep['kept'] is True
    pages = 2 * sum(SIZES_MIB) * 2**20 // 4096  # what the two steps touch
    assert default['faults'] > pages // 2  # glibc unmapped and refaulted it
    assert keep['faults'] < pages // 4  # reused (some heap fragmentation)


def test_user_allocator_choice_is_respected(monkeypatch):
    for key in filter(is_allocator_var, list(os.environ)):
        monkeypatch.delenv(key)
    assert not cpu_malloc.user_chose_allocator()
    monkeypatch.setenv('MALLOC_MMAP_THRESHOLD_', '131072')
    assert cpu_malloc.user_chose_allocator()
    monkeypatch.delenv('MALLOC_MMAP_THRESHOLD_')
    monkeypatch.setenv('LD_PRELOAD', '/usr/lib/libjemalloc.so.2')
    assert cpu_malloc.user_chose_allocator()
