"""Statistics over seeds: mean, sample standard deviation, the paired
difference to a reference row with its 95% t-interval and its p-value, the
Holm correction over a table's comparisons and the minimum detectable
effect of a paired comparison.

Every t quantile comes from :mod:`scipy.stats` (one code path), imported
where a statistic is computed: the package is also imported by every matrix
stage (the recorder hook), which needs no scipy."""
import math
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence

ALPHA = 0.05  # two-sided, per table after Holm's correction
POWER = 0.8


def t_quantile(df: int, q: float = 1 - ALPHA / 2) -> float:
    """Student t quantile ``t(q, df)``."""
    from scipy.stats import t
    if df < 1:
        raise ValueError(f'df must be >= 1, got {df}')
    return float(t.ppf(q, df))


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
    std: Optional[float]  # sample std of the differences; None when n < 2
    low: Optional[float]  # 95% t-interval; None when n < 2
    high: Optional[float]
    p: Optional[float] = None  # two-sided paired t-test; None when n < 2
    # Holm's decision within the comparison's family (a table); None until
    # :func:`holm` has run, then the raw test's decision is not used.
    holm_reject: Optional[bool] = None
    mde: Optional[float] = None  # see :func:`min_detectable_effect`

    @property
    def resolved(self) -> bool:
        """Holm-corrected when the family is known, else the raw 95%
        interval excludes 0."""
        if self.holm_reject is not None:
            return self.holm_reject
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired_difference(row: Dict[int, float],
                      reference: Dict[int, float]) -> Optional[Paired]:
    """Paired across seeds: d_s = row[s] - reference[s] for the common seeds;
    mean(d) +- t(0.975, n - 1) * sd(d) / sqrt(n), and the two-sided p-value
    of the paired t-test (0 for n >= 2 seeds of identical non-zero
    differences, 1 for identical zero differences)."""
    from scipy.stats import t
    seeds = sorted(set(row) & set(reference))
    if not seeds:
        return None
    s = summarize([row[k] - reference[k] for k in seeds])
    if s.n < 2:
        return Paired(s.n, s.mean, None, None, None)
    se = s.std / math.sqrt(s.n)
    half = t_quantile(s.n - 1) * se
    if se > 0:
        p = float(2 * t.sf(abs(s.mean) / se, s.n - 1))
    else:
        p = 1.0 if s.mean == 0 else 0.0
    return Paired(s.n, s.mean, s.std, s.mean - half, s.mean + half, p)


def holm(pvalues: Sequence[Optional[float]],
         alpha: float = ALPHA) -> List[Optional[bool]]:
    """Holm's step-down decisions (True: reject "no difference") for a
    family of tests, controlling the family-wise error at ``alpha``. Sort
    the m p-values ascending; reject the k-th smallest while
    p_(k) <= alpha / (m - k + 1) (k = 1..m), stop at the first that fails.
    ``None`` entries (no test: one seed) are not in the family and get
    ``None``."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(tested)
    out: List[Optional[bool]] = [None if p is None else False
                                 for p in pvalues]
    for k, (p, i) in enumerate(tested):
        if p > alpha / (m - k):
            break
        out[i] = True
    return out


def pooled_std(diffs: Sequence[Optional[Paired]]) -> Optional[float]:
    """Pooled standard deviation of paired differences:
    sqrt(sum((n_i - 1) s_i^2) / sum(n_i - 1)) over the comparisons with
    n_i >= 2 seeds; None when there is none."""
    have = [d for d in diffs if d is not None and d.std is not None]
    dof = sum(d.n - 1 for d in have)
    if not dof:
        return None
    return math.sqrt(sum((d.n - 1) * d.std**2 for d in have) / dof)


def min_detectable_effect(std: float, n: int, alpha: float = ALPHA,
                          power: float = POWER) -> float:
    """Smallest true paired difference a two-sided paired t-test at level
    ``alpha`` detects with probability ``power``, for n seeds and a
    standard deviation ``std`` of the per-seed differences:

        MDE = (t(1 - alpha / 2, n - 1) + t(power, n - 1)) * std / sqrt(n)

    (the usual normal-approximation formula with t quantiles in place of z;
    0.9 points of std at n = 3 gives (4.303 + 1.061) * 0.9 / 1.732 = 2.79).
    ``alpha`` is per comparison: Holm's correction makes the detectable
    effect of a table's comparisons larger still, so this is a lower
    bound."""
    if n < 2:
        raise ValueError(f'a paired MDE needs n >= 2 seeds, got {n}')
    return (t_quantile(n - 1, 1 - alpha / 2) +
            t_quantile(n - 1, power)) * std / math.sqrt(n)


def correct_family(diffs: Dict[str, Optional[Paired]],
                   stds: Optional[Dict[str, Optional[float]]] = None
                   ) -> Dict[str, Optional[Paired]]:
    """The family's comparisons with Holm's decisions and each one's MDE,
    from ``stds[key]`` (default: the family's pooled paired std) and its
    own n."""
    decisions = holm([d.p if d is not None else None
                      for d in diffs.values()])
    pooled = pooled_std(list(diffs.values()))
    out = {}
    for (key, d), reject in zip(diffs.items(), decisions):
        if d is None or d.n < 2:
            out[key] = d
            continue
        std = pooled if stds is None else stds.get(key)
        mde = None if std is None else min_detectable_effect(std, d.n)
        out[key] = replace(d, holm_reject=bool(reject), mde=mde)
    return out


def fmt_summary(s: Optional[Summary], digits: int = 2) -> str:
    if s is None:
        return '—'
    if s.std is None:
        return f'{s.mean:.{digits}f}'
    return f'{s.mean:.{digits}f} ± {s.std:.{digits}f}'


def unresolved_words(p: Paired, digits: int = 1) -> str:
    """``not resolved at n = 5 (detectable: 1.6 points)``."""
    text = f'not resolved at n = {p.n}'
    if p.mde is not None:
        text += f' (detectable: {p.mde:.{digits}f} points)'
    return text


def fmt_paired(p: Optional[Paired], digits: int = 2) -> str:
    if p is None:
        return '—'
    if p.low is None:
        return f'{p.mean:+.{digits}f} (1 seed)'
    text = (f'{p.mean:+.{digits}f} [{p.low:+.{digits}f}, '
            f'{p.high:+.{digits}f}]')
    if p.resolved:
        return text + ' *'
    if p.mde is not None:
        return text + f' (MDE {p.mde:.1f})'
    return text


def sentence(column_title: str, reference: str,
             diffs: Dict[str, Optional[Paired]]) -> str:
    """Which differences to the reference row are resolved on one column,
    in plain words; every unresolved one with its detectable effect."""
    have = {r: p for r, p in diffs.items() if p is not None}
    if not have:
        return f'- {column_title}: no paired results yet.'
    if all(p.n < 2 for p in have.values()):
        listed = '; '.join(f'{r} {p.mean:+.2f}' for r, p in have.items())
        return (f'- {column_title}: one seed per row, so no difference to '
                f'{reference} is resolved ({listed}); it takes >= 2 seeds '
                '(5 for the headline rows).')
    res = [f'{r} {fmt_paired(p)[:-2]}' for r, p in have.items()
           if p.resolved]
    unres = [f'{r} {p.mean:+.2f}: {unresolved_words(p)}'
             for r, p in have.items() if not p.resolved]
    parts = []
    if res:
        parts.append('resolved (Holm-corrected within the table, alpha '
                     f'{ALPHA:g}): ' + '; '.join(res))
    if unres:
        parts.append('; '.join(unres))
    return f'- {column_title}, row − {reference}: ' + '. '.join(parts) + '.'
