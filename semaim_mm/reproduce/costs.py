"""What the matrix's runs cost and where they ran: pre-training images,
seconds (one mean per kind of host: seconds of different hosts do not
average) and analytic FLOPs per row; hours spent per stage group; the
machines, commands and commits of the finished stages."""
import re
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

from .store import Results


def _mean(values: Sequence[float]) -> str:
    return f'{sum(values) / len(values):.0f}' if values else '—'


def host_kind(machine: dict) -> str:
    """'CPU model xCOUNT' of a stage's machine record."""
    cpu = re.sub(r'\((R|TM)\)| Processor', '', machine.get('cpu', '?'))
    return f"{cpu} x{machine.get('cpu_count', '?')}"


def host_means(runs: List[dict], value: Callable[[dict], float]) -> str:
    """Mean of ``value`` over ``runs``, one mean per kind of host (CPU
    model and count) when the runs come from several: seconds of different
    hosts do not average."""
    by_cpu: Dict[str, List[float]] = {}
    for r in runs:
        by_cpu.setdefault(host_kind(r['machine']), []).append(value(r))
    if len(by_cpu) <= 1:
        return _mean([v for vs in by_cpu.values() for v in vs])
    return '; '.join(f'{_mean(vs)} ({cpu}, n = {len(vs)})'
                     for cpu, vs in sorted(by_cpu.items()))


def tflops(runs: List[dict]) -> str:
    """Mean analytic pre-training TFLOPs of finished runs ('—' when the
    runs predate the FLOPs record)."""
    flops = [r['record'].get('train_flops') for r in runs]
    flops = [f for f in flops if f]
    return f'{sum(flops) / len(flops) / 1e12:.1f}' if flops else '—'


def cost_cells(results: Results, row: str) -> List[str]:
    """Pre-training images, wall-clock and CPU seconds (training loop, mean
    over seeds, per kind of host) and analytic TFLOPs of a row; dashes for
    rows without pre-training."""
    runs = results.pretrain(row)
    if not runs:
        images = results.spec.rows[row].images or results.spec.pretrain_images
        return ['—' if results.spec.rows[row].init != 'pretrained' else
                f'{images} (to do)', '—', '—', '—']
    images = {r['record']['images_seen'] for r in runs}
    return [', '.join(str(i) for i in sorted(images)),
            host_means(runs, lambda r: r['record']['train_wall_s']),
            host_means(runs, lambda r: r['record']['train_cpu_s']),
            tflops(runs)]


def spent_md(runs: Iterable[dict]) -> str:
    """What finished stages cost, per stage group (tuning grids, final
    rows, budget curve) and kind of host: stage count, wall-clock and CPU
    hours of the whole stage (data loading and evaluation included)."""
    groups: Dict[Tuple[str, str], List[dict]] = {}
    for r in runs:
        groups.setdefault((r.get('group', 'main'), host_kind(r['machine'])),
                          []).append(r)
    names = dict(tune='tuning grids', main='final rows', curve='budget curve')
    lines = ['| stages | host | count | wall h | CPU h |',
             '|---|---|---|---|---|']
    for (group, host), rs in sorted(groups.items()):
        lines.append(f'| {names.get(group, group)} | {host} | {len(rs)} | '
                     f"{sum(r['wall_s'] for r in rs) / 3600:.2f} | "
                     f"{sum(r['cpu_s'] for r in rs) / 3600:.2f} |")
    return '\n'.join(lines)


def costs_md(results: Results) -> str:
    """Pre-training cost of every row and the mean cost of each column's
    stages (for sizing a run; wall clock depends on the machine's load)."""
    spec = results.spec
    lines = ['| row | pre-train images | wall s | CPU s | TFLOPs | '
             'images / CPU s |', '|---|---|---|---|---|---|']
    for name, row in spec.rows.items():
        runs = results.pretrain(name)
        if row.init == 'pretrained' and runs:
            images, wall, cpu, flops = cost_cells(results, name)
            rate = host_means(runs, lambda r: (
                r['record']['images_seen'] / r['record']['train_cpu_s']))
            lines.append(f'| {row.title} | {images} | {wall} | {cpu} | '
                         f'{flops} | {rate} |')
    lines += ['', '| column | stages | mean wall s | mean CPU s |',
              '|---|---|---|---|']
    for name, col in spec.columns.items():
        runs = [r for r in results.by_hash.values() if r['column'] == name]
        if runs:
            lines.append(f'| {col.title} | {len(runs)} | '
                         f"{host_means(runs, lambda r: r['wall_s'])} | "
                         f"{host_means(runs, lambda r: r['cpu_s'])} |")
    return '\n'.join(lines)


def machine_md(results: Results) -> str:
    machines, commands, commits = results.machine()
    lines = [f'- command: `{c}`' for c in commands]
    for m in machines:
        lines.append(f"- machine: {m.get('cpu_count')} CPU(s) "
                     f"({m.get('cpu')}), torch {m.get('torch')} with "
                     f"{m.get('torch_threads')} thread(s), "
                     f"{m.get('platform')}")
    loads = [r['machine']['load_start'][0]
             for r in results.by_hash.values()]
    if loads:
        lines.append(f'- load average at stage start: {min(loads):.1f} to '
                     f'{max(loads):.1f} (other jobs slow the wall clock; '
                     'CPU seconds are less affected)')
    lines.append(f"- git: {', '.join(commits) or '—'}")
    return '\n'.join(lines)
