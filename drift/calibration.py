"""How alarms keep their false-alarm rate: settings, multiple testing, repeated windows.

One window: a feature drifts when its homogeneity test is significant after Benjamini-Hochberg
across the model's tested columns *and* its divergence reaches ``min_effect``. Under no drift
at all BH's false-discovery rate equals its family-wise error, so at most ``alpha`` of windows
flag any feature; with real drift it keeps more power than Bonferroni.

Many windows: each window's flags are still ``alpha``-level events, so a stream of windows
alarms once every ~1/alpha windows by chance. ``Persistence`` (k of the last m windows) and
``Cusum`` (on the window's z-score) are the streaming rules that turn that into a documented
rate; the processor applies them per (model, version, feature).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True)
class DriftSettings:
    alpha: float = 0.01
    """False-discovery rate across one model's tested columns (BH); = family-wise rate under no drift."""
    min_effect: float = 0.005
    """Minimum divergence D (~PSI for small shifts): a 0.071 sd mean shift, a 3.5-point move
    between two even categories. The issue's smallest cases (0.1 sd, 5 points) have D ~ 0.01."""
    min_expected: float = 5.0
    """Expected count per cell below which bins are merged before the chi-square test."""
    dataset_share: float = 0.5
    """Dataset drift when at least this share of input features drift (or the PCA test does)."""
    quality_alpha: float = 0.01
    """Family-wise rate of each quality test across the model's features (Bonferroni)."""
    min_missing_change: float = 0.01
    """Missing / non-finite ratio change (absolute) below which no quality issue is raised."""
    min_out_of_range: float = 0.01
    """Out-of-range ratio above the reference's own expectation needed for an issue."""
    min_new_category: float = 0.01
    """New-category ratio above the reference's unseen-mass estimate needed for an issue."""
    multivariate_alpha: float = 0.01
    multivariate_min_effect: float = 0.005


def benjamini_hochberg(p_values: np.ndarray, q: float) -> tuple[np.ndarray, float]:
    """Rejections of the BH step-up procedure and the level ``a*`` with ``p <= a* <=> rejected``.

    With R rejections every rejected p is <= R q / m and every other p is > (R + 1) q / m,
    so a* = max(R, 1) q / m is a per-test threshold that reproduces BH exactly."""
    m = p_values.size
    if m == 0:
        return np.zeros(0, dtype=bool), q
    ranked = np.sort(p_values)
    passing = np.flatnonzero(ranked <= np.arange(1, m + 1) * q / m)
    rejected_count = int(passing[-1]) + 1 if passing.size else 0
    level = max(rejected_count, 1) * q / m
    return p_values <= level if rejected_count else np.zeros(m, dtype=bool), level


class Persistence:
    """Alarm when at least ``k`` of the last ``m`` windows drifted.

    With independent per-window false alarms at rate a, the chance a window alarms is
    ~ C(m, k) a^k (3 a^2 for 2 of 3): 3e-4 at a = 0.01, one false alarm per ~3,300 windows."""

    def __init__(self, k: int = 2, m: int = 3) -> None:
        if not 1 <= k <= m:
            raise ValueError("need 1 <= k <= m")
        self.k, self.m = k, m
        self._history: deque[bool] = deque(maxlen=m)

    def update(self, drifted: bool) -> bool:
        self._history.append(bool(drifted))
        return sum(self._history) >= self.k

    def state(self) -> list[bool]:
        return list(self._history)

    def restore(self, history: list[bool]) -> None:
        self._history = deque((bool(h) for h in history), maxlen=self.m)


class Cusum:
    """One-sided CUSUM on the window's z-score ``z = Phi^-1(1 - p)`` (N(0,1) under no drift).

    ``S = max(0, S + z - k)``; alarm when S > h. With k = 0.5, h = 5 the in-control average
    run length is ~930 windows (Siegmund's approximation); drift of z ~ 1.5 per window alarms
    in ~5 windows. Windows that alarm do not reset S: the alarm stays while drift lasts."""

    def __init__(self, k: float = 0.5, h: float = 5.0) -> None:
        self.k, self.h = k, h
        self.statistic = 0.0

    def update(self, p_value: float) -> bool:
        z = -float(special.ndtri(min(max(p_value, 1e-300), 1.0)))
        self.statistic = max(0.0, self.statistic + min(z, 10.0) - self.k)
        return self.statistic > self.h
