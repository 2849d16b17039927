"""semaim_mm.cpu_malloc: freed tensor memory is reused without page faults."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from semaim_mm import cpu_malloc

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Allocate, touch and free an 8 MiB tensor, then count the minor page faults
# of doing it again.
PROBE = """
import json, resource, sys, torch
from semaim_mm.cpu_malloc import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == 'keep' else False
def touch():
    x = torch.empty(2 * 2**20); x.fill_(1.0); del x
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(json.dumps(dict(kept=kept, faults=resource.getrusage(
    resource.RUSAGE_SELF).ru_minflt - before)))
"""


def run_probe(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith('MALLOC_') or k == 'LD_PRELOAD')}
    env['PYTHONPATH'] = ROOT
    out = subprocess.run([sys.executable, '-c', PROBE, mode], env=env,
                         capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform != 'linux', reason='glibc mallopt')
def test_freed_memory_is_reused_without_faults():
    default, keep = run_probe('default'), run_probe('keep')
    assert keep['kept'] is True
    pages = 8 * 2**20 // 4096
    assert default['faults'] > pages // 2  # glibc unmapped and refaulted it
    assert keep['faults'] < pages // 20


def test_user_allocator_choice_is_respected(monkeypatch):
    for key in list(os.environ):
        if key.startswith('MALLOC_') or key in ('LD_PRELOAD',
                                                'GLIBC_TUNABLES'):
            monkeypatch.delenv(key)
    assert not cpu_malloc.user_chose_allocator()
    monkeypatch.setenv('MALLOC_MMAP_THRESHOLD_', '131072')
    assert cpu_malloc.user_chose_allocator()
    monkeypatch.delenv('MALLOC_MMAP_THRESHOLD_')
    monkeypatch.setenv('LD_PRELOAD', '/usr/lib/libjemalloc.so.2')
    assert cpu_malloc.user_chose_allocator()
