"""Data-quality metrics of one feature's window counts, each tested against what the finite
reference itself predicts, so quality issues keep a false-alarm rate too.

- missing / non-finite / type-error ratio: Fisher's exact test of the window's rate against
  the reference's, plus a minimum absolute change; a rate the reference never had (0) is an
  issue as soon as it appears for non-finite values and type errors (those are bugs).
- out of range: with a continuous reference of n values, the mass outside its [min, max] is
  Beta(2, n - 1), so the count of window values outside is Beta-binomial (exact, conservative
  for discrete data); an issue needs significance and ``min_out_of_range`` above 2 / (n + 1).
- new categories: Good-Turing's unseen mass (singletons / n) as Beta(s + 1, n - s + 1), the
  count Beta-binomial likewise; plus ``min_new_category``.
- constant: the window holds one value while the reference had several, and the chance of
  that from the reference (at most sum_k p_k^n over its bins) is below the level.
"""

from __future__ import annotations

import numpy as np

from modeltel.drift.calibration import DriftSettings
from modeltel.drift.counts import FeatureCounts
from modeltel.drift.profile import FeatureProfile
from modeltel.drift.report import Quality


def _betabinom_sf(k: int, n: int, a: float, b: float) -> float:
    from scipy import stats  # slow to import; only needed when a ratio passed its minimum

    return float(stats.betabinom.sf(k, n, a, b))


def _rate_changed(ref_k: float, ref_n: float, cur_k: float, cur_n: float, level: float) -> bool:
    if ref_n <= 0 or cur_n <= 0:
        return False
    from scipy import stats  # slow to import; only needed when a rate moved past its minimum

    table = [[round(ref_k), round(ref_n - ref_k)], [round(cur_k), round(cur_n - cur_k)]]
    return float(stats.fisher_exact(table).pvalue) < level


def assess(
    profile: FeatureProfile, counts: FeatureCounts, scale: float, settings: DriftSettings, tests: int
) -> Quality:
    """Quality of one feature. ``scale`` turns weighted counts into effective counts;
    ``tests`` is the number of features sharing the Bonferroni level."""
    level = settings.quality_alpha / max(tests, 1)
    rows = counts.rows
    quality = Quality()
    if rows <= 0:
        return quality
    missing = counts.missing + counts.absent
    quality.missing_ratio = float(missing / rows)
    quality.reference_missing_ratio = profile.missing / profile.rows if profile.rows else 0.0
    quality.nonfinite_ratio = float(counts.nonfinite / rows)
    quality.type_error_ratio = float(counts.type_errors / rows)
    quality.absent = counts.absent >= rows
    n_cur = rows * scale
    if quality.absent:
        quality.issues.append("absent")
    elif abs(
        quality.missing_ratio - quality.reference_missing_ratio
    ) >= settings.min_missing_change and _rate_changed(
        profile.missing, profile.rows, missing * scale, n_cur, level
    ):
        quality.issues.append("missing_ratio")
    for name, ref_k, cur_k, ratio in (
        ("nonfinite", profile.nonfinite, counts.nonfinite, quality.nonfinite_ratio),
        ("type_errors", profile.type_errors, counts.type_errors, quality.type_error_ratio),
    ):
        if cur_k <= 0:
            continue
        if ref_k <= 0 or (
            abs(ratio - ref_k / profile.rows) >= settings.min_missing_change
            and _rate_changed(ref_k, profile.rows, cur_k * scale, n_cur, level)
        ):
            quality.issues.append(name)
    ref_counts = profile.reference_counts()
    ref_valid = float(ref_counts.sum())
    n_valid = counts.valid * scale
    if profile.numeric is not None:
        outside = counts.below + counts.above
        quality.out_of_range_ratio = outside / counts.valid if counts.valid else 0.0
        expected = 2.0 / (ref_valid + 1.0)
        if n_valid >= 1 and quality.out_of_range_ratio - expected >= settings.min_out_of_range:
            k = round(outside * scale)
            p = _betabinom_sf(k - 1, round(n_valid), 2.0, max(ref_valid - 1.0, 1.0))
            if p < level:
                quality.issues.append("out_of_range")
    if profile.categorical is not None and profile.categorical.complete:
        quality.new_category_ratio = counts.new / counts.valid if counts.valid else 0.0
        quality.new_categories = sorted(counts.new_names)[:20]
        s = float(profile.categorical.singletons)
        seen = max(profile.rows - profile.missing - profile.type_errors, 0.0)  # all reference rows
        expected = (s + 1.0) / (seen + 2.0)
        if n_valid >= 1 and quality.new_category_ratio - expected >= settings.min_new_category:
            k = round(counts.new * scale)
            p = _betabinom_sf(k - 1, round(n_valid), s + 1.0, max(seen - s, 0.0) + 1.0)
            if p < level:
                quality.issues.append("new_category")
    quality.constant = _constant(profile, counts, ref_counts, n_valid, level)
    if quality.constant:
        quality.issues.append("constant")
    return quality


def _constant(
    profile: FeatureProfile, counts: FeatureCounts, ref_counts: np.ndarray, n_valid: float, level: float
) -> bool:
    if n_valid < 2 or np.count_nonzero(ref_counts) < 2:
        return False
    if profile.numeric is not None:
        single = counts.min == counts.max
    else:
        single = np.count_nonzero(counts.bins) == 1 and counts.new == 0
    if not single:
        return False
    p = ref_counts / ref_counts.sum()
    return float(np.sum(p**n_valid)) < level
