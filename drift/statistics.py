"""Two-sample statistics on binned counts (reference counts vs window counts).

The alarm statistic is the chi-square homogeneity test of the 2 x K table, sparse bins merged
until every expected cell count is at least ``min_expected`` (a valid two-sample test at any
n, for numeric, discrete and categorical features alike). Its divergence
``D = X^2 / (n1 n2 / (n1 + n2)) = sum_k (p_k - q_k)^2 / pooled_k`` is the effect size: the
test is significant exactly when D exceeds a critical value that shrinks like 1/n, so a
minimum on D is what keeps huge windows from alarming on negligible shifts.

PSI, Jensen-Shannon, Hellinger, binned KS and binned Wasserstein are reported alongside for
people used to them; they are descriptive, not what raises the alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

SMOOTHING = 1e-4
"""Floor of a bin proportion in PSI/KL (empty bins would make them infinite)."""


@dataclass(frozen=True)
class HomogeneityTest:
    statistic: float  # Pearson X^2
    df: int
    p_value: float
    divergence: float  # X^2 / n_h: the effect size the threshold applies to
    n_h: float  # n1 n2 / (n1 + n2), the table's effective size
    groups: int  # bins after merging
    null: np.ndarray | None = None  # resampled X^2 under no drift, descending (None: asymptotic p)

    def critical_divergence(self, alpha: float) -> float:
        """The divergence D at which this test's p-value reaches ``alpha``.

        Asymptotic: the chi-square quantile / n_h. Resampled: just above the simulated value
        that ``alpha`` allows to be exceeded, so ``D >= threshold <=> p <= alpha`` holds
        for the p-value actually used. inf when ``alpha`` is below the resolution 1/(B+1)."""
        if self.df <= 0 or self.n_h <= 0:
            return float("inf")
        if self.null is None:
            return float(special.chdtri(self.df, alpha)) / self.n_h
        allowed = int(np.floor(alpha * (self.null.size + 1) + 1e-9)) - 1
        if allowed < 0:
            return float("inf")
        return float(np.nextafter(self.null[min(allowed, self.null.size - 1)], np.inf)) / self.n_h


def proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def merge_sparse(
    reference: np.ndarray, current: np.ndarray, adjacent: bool, min_expected: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Merge bins until every expected cell count of the 2 x K table is >= ``min_expected``.

    Numeric bins merge with their neighbours (order matters); categories merge rarest
    together (order does not). Expected count of a cell is row total x column total / N, so
    a group is closed once its column total reaches min_expected x N / min(row totals)."""
    n1, n2 = reference.sum(), current.sum()
    need = min_expected * (n1 + n2) / min(n1, n2)
    order = np.arange(reference.size) if adjacent else np.argsort(-(reference + current), kind="stable")
    column = (reference + current)[order]
    group = np.empty(order.size, dtype=np.int64)
    g, running = 0, 0.0
    for i, c in enumerate(column.tolist()):
        group[i] = g
        running += c
        if running >= need:
            g, running = g + 1, 0.0
    if running > 0 and g > 0:  # a short tail joins the last full group
        group[group == g] = g - 1
    groups = int(group.max()) + 1 if group.size else 0
    merged_ref = np.bincount(group, weights=reference[order], minlength=groups)
    merged_cur = np.bincount(group, weights=current[order], minlength=groups)
    return merged_ref, merged_cur


RESAMPLE_BELOW = 20_000
"""Smaller side below which a small asymptotic p-value is re-checked by resampling."""
RESAMPLE_DRAWS = 4_000
RESAMPLE_FLOOR = 1e-6
"""Below this asymptotic p no resampling: 4,000 draws cannot resolve it and the verdict is clear."""


def resampled_null(reference: np.ndarray, current: np.ndarray, draws: int) -> np.ndarray:
    """X^2 of ``draws`` tables with both rows drawn from the pooled proportions at their own
    n, descending: the null distribution at the window's actual size.

    The chi-square approximation is anti-conservative in the far tail when the smaller side
    has a few hundred values (1.5-3x too many p < 0.001 in simulation); this parametric
    bootstrap at the window's actual n is not. Seeded, so a window always gets the same p."""
    n1, n2 = max(round(float(reference.sum())), 1), max(round(float(current.sum())), 1)
    pooled = (reference + current) / (reference.sum() + current.sum())
    rng = np.random.default_rng(0)
    a = rng.multinomial(n1, pooled, size=draws) / n1
    b = rng.multinomial(n2, pooled, size=draws) / n2
    pooled_draws = (a * n1 + b * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pooled_draws > 0, (a - b) ** 2 / pooled_draws, 0.0)
    return np.sort(terms.sum(axis=1) * n1 * n2 / (n1 + n2))[::-1]


def homogeneity(
    reference: np.ndarray,
    current: np.ndarray,
    adjacent: bool,
    min_expected: float = 5.0,
    resample_below: float = RESAMPLE_BELOW,
    draws: int = RESAMPLE_DRAWS,
) -> HomogeneityTest:
    """Pearson chi-square test that both count vectors come from one distribution.

    ``current`` may be re-weighted counts scaled to their effective n (see evaluation).
    When the smaller side is under ``resample_below`` and the asymptotic p is in
    [RESAMPLE_FLOOR, 0.05), the p-value comes from ``resampled_p_value`` instead."""
    n1, n2 = float(reference.sum()), float(current.sum())
    if n1 <= 0 or n2 <= 0:
        return HomogeneityTest(0.0, 0, 1.0, 0.0, 0.0, 0)
    ref, cur = merge_sparse(reference, current, adjacent, min_expected)
    n = n1 + n2
    n_h = n1 * n2 / n
    pooled = (ref + cur) / n
    keep = pooled > 0
    diff = ref[keep] / n1 - cur[keep] / n2
    divergence = float(np.sum(diff * diff / pooled[keep]))
    statistic = divergence * n_h
    df = int(keep.sum()) - 1
    p_value = float(special.chdtrc(df, statistic)) if df > 0 else 1.0
    null = None
    if df > 0 and RESAMPLE_FLOOR <= p_value < 0.05 and min(n1, n2) < resample_below:
        null = resampled_null(ref[keep], cur[keep], draws)
        exceed = int(np.count_nonzero(null >= statistic * (1 - 1e-12)))
        p_value = (1 + exceed) / (draws + 1)
    return HomogeneityTest(statistic, df, p_value, divergence, n_h, int(keep.sum()), null)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index, sum (q - p) ln(q / p), proportions floored at SMOOTHING."""
    p = np.maximum(proportions(reference), SMOOTHING)
    q = np.maximum(proportions(current), SMOOTHING)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (square root of the divergence, base 2: in [0, 1])."""
    p, q = proportions(reference), proportions(current)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


def hellinger(reference: np.ndarray, current: np.ndarray) -> float:
    p, q = proportions(reference), proportions(current)
    return float(np.sqrt(max(1.0 - np.sum(np.sqrt(p * q)), 0.0)))


def binned_ks(reference: np.ndarray, current: np.ndarray) -> float:
    """Largest gap between the two CDFs at the bin edges: a lower bound on the exact KS."""
    return float(np.max(np.abs(np.cumsum(proportions(reference)) - np.cumsum(proportions(current)))))


def bin_centres(edges: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A representative value per bin; open outer bins are closed at ``lo`` / ``hi``."""
    if edges.size == 0:
        return np.array([(lo + hi) / 2])
    bounds = np.concatenate([[min(lo, edges[0])], edges, [max(hi, edges[-1])]])
    return (bounds[:-1] + bounds[1:]) / 2


def binned_wasserstein(reference: np.ndarray, current: np.ndarray, centres: np.ndarray) -> float:
    """Earth mover's distance with each bin's mass at its centre: sum |F_p - F_q| x step."""
    gap = np.abs(np.cumsum(proportions(reference)) - np.cumsum(proportions(current)))[:-1]
    return float(np.sum(gap * np.diff(centres)))
