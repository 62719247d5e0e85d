"""Fixed bins from the reference: quantile edges, point masses as their own bins, open ends.

Binning once against the reference turns every later comparison into a 2 x K contingency
table whose state is K numbers, whatever the traffic, and which adds across windows and
replicas. Bins are half-open ``[lo, hi)`` found with ``np.searchsorted(edges, x, "right")``.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

DEFAULT_BINS = 20
MAX_DISCRETE = 20
"""A numeric feature with at most this many distinct reference values gets one bin per value."""


def _isolate(values: np.ndarray) -> np.ndarray:
    """Edges making each value its own bin ``[v, nextafter(v))``."""
    return np.concatenate([values, np.nextafter(values, np.inf)])


def numeric_edges(
    finite: np.ndarray, n_bins: int = DEFAULT_BINS, max_discrete: int = MAX_DISCRETE
) -> tuple[np.ndarray, bool]:
    """Bin edges for the finite reference values, and whether the feature is discrete.

    Few distinct values: one bin per value (gaps between them are bins with reference count 0,
    so a never-seen value still lands apart). Otherwise values holding at least half a bin's
    share are point masses with their own bin (zero-inflation, clipping), and the rest is cut
    at its quantiles; duplicate edges are merged."""
    if finite.size == 0:
        return np.empty(0), False
    values, counts = np.unique(finite, return_counts=True)
    if values.size <= max_discrete:
        return np.unique(_isolate(values)), True
    heavy = values[counts >= finite.size * 0.5 / n_bins]
    rest = finite if heavy.size == 0 else finite[~np.isin(finite, heavy)]
    parts = max(n_bins - heavy.size, 2)
    cuts = np.quantile(rest, np.arange(1, parts) / parts, method="inverted_cdf") if rest.size else []
    edges = np.unique(np.concatenate([np.asarray(cuts, dtype=np.float64), _isolate(heavy)]))
    return edges, False


def assign(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index in ``0..len(edges)`` of each finite value."""
    return np.searchsorted(edges, values, side="right")


def bin_counts(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted count per bin (``len(edges) + 1`` bins)."""
    return np.bincount(assign(values, edges), weights=weights, minlength=edges.size + 1).astype(np.float64)


def bin_labels(edges: list[float] | np.ndarray) -> list[str]:
    """Human labels of the bins: ``< a``, ``[a, b)``, ``= v`` for point masses, ``>= z``."""
    edges = list(edges)
    if not edges:
        return ["all"]
    labels = [f"< {edges[0]:.4g}"]
    for lo, hi in pairwise(edges):
        labels.append(f"= {lo:.6g}" if np.nextafter(lo, np.inf) == hi else f"[{lo:.4g}, {hi:.4g})")
    labels.append(f">= {edges[-1]:.4g}")
    return labels
