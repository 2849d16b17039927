"""Statistics over seeds: mean, sample standard deviation, and the paired
difference to a reference row with its 95% t-interval."""
import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

# Two-sided 95% Student t quantiles t(0.975, df), df = 1..30.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
        2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
        2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
        2.042)


def t_quantile(df: int) -> float:
    """t(0.975, df): scipy when installed, else the table (df <= 30) or the
    Cornish-Fisher expansion around the normal quantile."""
    if df < 1:
        raise ValueError(f'df must be >= 1, got {df}')
    try:
        from scipy.stats import t
        return float(t.ppf(0.975, df))
    except ImportError:
        pass
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (
        96 * df**2)


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: Optional[float]  # sample std (n - 1); None when n < 2


def summarize(values: Sequence[float]) -> Optional[Summary]:
    values = [float(v) for v in values]
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1)) \
        if n > 1 else None
    return Summary(n, mean, std)


@dataclass(frozen=True)
class Paired:
    """``row - reference`` over the seeds both have."""
    n: int
    mean: float
    low: Optional[float]  # 95% t-interval; None when n < 2
    high: Optional[float]

    @property
    def resolved(self) -> bool:
        """The interval excludes 0."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired_difference(row: Dict[int, float],
                      reference: Dict[int, float]) -> Optional[Paired]:
    """Paired across seeds: d_s = row[s] - reference[s] for the common seeds;
    mean(d) +- t(0.975, n - 1) * sd(d) / sqrt(n)."""
    seeds = sorted(set(row) & set(reference))
    if not seeds:
        return None
    s = summarize([row[k] - reference[k] for k in seeds])
    if s.n < 2:
        return Paired(s.n, s.mean, None, None)
    half = t_quantile(s.n - 1) * s.std / math.sqrt(s.n)
    return Paired(s.n, s.mean, s.mean - half, s.mean + half)


def fmt_summary(s: Optional[Summary], digits: int = 2) -> str:
    if s is None:
        return '—'
    if s.std is None:
        return f'{s.mean:.{digits}f}'
    return f'{s.mean:.{digits}f} ± {s.std:.{digits}f}'


def fmt_paired(p: Optional[Paired], digits: int = 2) -> str:
    if p is None:
        return '—'
    if p.low is None:
        return f'{p.mean:+.{digits}f} (1 seed)'
    mark = ' *' if p.resolved else ''
    return (f'{p.mean:+.{digits}f} [{p.low:+.{digits}f}, '
            f'{p.high:+.{digits}f}]{mark}')


def sentence(column_title: str, reference: str,
             diffs: Dict[str, Optional[Paired]]) -> str:
    """Which differences to the reference row are resolved on one column,
    in plain words."""
    have = {r: p for r, p in diffs.items() if p is not None}
    if not have:
        return f'- {column_title}: no paired results yet.'
    if all(p.n < 2 for p in have.values()):
        listed = '; '.join(f'{r} {p.mean:+.2f}' for r, p in have.items())
        return (f'- {column_title}: one seed per row, so no difference to '
                f'{reference} is resolved ({listed}); it takes >= 2 seeds '
                '(3 or more for a useful interval).')
    res = [f'{r} {fmt_paired(p)[:-2]}' for r, p in have.items()
           if p.resolved]
    unres = [f'{r} {fmt_paired(p)}' for r, p in have.items()
             if not p.resolved]
    parts = []
    if res:
        parts.append('resolved (95% interval excludes 0): ' + '; '.join(res))
    if unres:
        parts.append('not resolved (interval includes 0, or one seed): ' +
                     '; '.join(unres))
    return f'- {column_title}, row − {reference}: ' + '. '.join(parts) + '.'
