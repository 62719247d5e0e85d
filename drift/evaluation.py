"""Window counts + profile -> report: the one place drift and quality verdicts are made.

Per tested column: chi-square homogeneity test on the merged 2 x K table (window counts
scaled to their effective n when sampling weights differ), Benjamini-Hochberg across the
model's tested columns, drifted when significant and the divergence reaches the minimum effect.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from modeltel.drift import quality, statistics
from modeltel.drift.binning import bin_labels
from modeltel.drift.calibration import DriftSettings, benjamini_hochberg
from modeltel.drift.counts import FeatureCounts, WindowCounts
from modeltel.drift.profile import FeatureProfile
from modeltel.drift.report import FeatureReport, ModelReport, MultivariateReport

OUTPUT_ROLES = frozenset({"prediction", "score"})


def _scale(counts: FeatureCounts) -> float:
    """Factor turning weighted counts into effective counts (1 without re-weighting)."""
    return counts.n_eff / counts.valid if counts.valid > 0 else 1.0


def _draws(tests: int, alpha: float) -> int:
    """Resampling draws that resolve the smallest BH level, alpha / tests, ~10 times over
    (capped at 20,000: ~4 times over for 50 tests at alpha 0.01)."""
    return int(min(max(np.ceil(10 * max(tests, 1) / alpha), statistics.RESAMPLE_DRAWS), 20_000))


def _feature_report(
    feature: FeatureProfile, counts: FeatureCounts, settings: DriftSettings, draws: int
) -> tuple[FeatureReport, statistics.HomogeneityTest | None]:
    """The feature's report without the multiple-testing verdict, and its test."""
    ref = feature.reference_counts()
    cur = counts.bins
    report = FeatureReport(
        name=feature.name,
        kind=feature.kind,
        role=feature.role,
        rows=counts.rows,
        valid=counts.valid,
        n_eff=counts.n_eff,
        tested=feature.tested and ref.sum() > 0 and counts.valid > 0,
        min_effect=settings.min_effect,
    )
    if feature.numeric is not None:
        report.bins = bin_labels(feature.numeric.edges)
    elif feature.categorical is not None:
        report.bins = [*feature.categorical.categories, "(other)"]
    report.reference = statistics.proportions(ref).tolist()
    report.current = statistics.proportions(cur).tolist()
    if not report.tested:
        return report, None
    test = statistics.homogeneity(
        ref,
        cur * _scale(counts),
        adjacent=feature.numeric is not None,
        min_expected=settings.min_expected,
        draws=draws,
    )
    report.chi2, report.df, report.p_value, report.score = (
        test.statistic,
        test.df,
        test.p_value,
        test.divergence,
    )
    report.psi = statistics.psi(ref, cur)
    report.jensen_shannon = statistics.jensen_shannon(ref, cur)
    report.hellinger = statistics.hellinger(ref, cur)
    if feature.numeric is not None:
        num = feature.numeric
        report.ks = statistics.binned_ks(ref, cur)
        lo = min(num.min, counts.min) if np.isfinite(counts.min) else num.min
        hi = max(num.max, counts.max) if np.isfinite(counts.max) else num.max
        centres = statistics.bin_centres(np.asarray(num.edges), lo, hi)
        report.wasserstein = statistics.binned_wasserstein(ref, cur, centres) / (num.std or 1.0)
    return report, test


def evaluate(profile_counts: WindowCounts, settings: DriftSettings | None = None) -> ModelReport:
    """Drift and quality verdicts for one window (or any merge of windows) of one model version."""
    settings = settings or DriftSettings()
    profile = profile_counts.profile
    draws = _draws(sum(1 for f in profile.features if f.tested), settings.alpha)
    pairs = [
        _feature_report(feature, profile_counts.features[feature.name], settings, draws)
        for feature in profile.features
    ]
    reports = [report for report, _ in pairs]
    tested = [(report, test) for report, test in pairs if test is not None]
    rejected, level = benjamini_hochberg(np.array([r.p_value for r, _ in tested]), settings.alpha)
    for (report, test), significant in zip(tested, rejected, strict=True):
        report.alpha = level
        report.threshold = max(settings.min_effect, test.critical_divergence(level))
        report.drifted = bool(significant) and report.score >= settings.min_effect
    quality_tests = sum(1 for f in profile.features if f.tested)
    for feature, report in zip(profile.features, reports, strict=True):
        if feature.tested:
            counts = profile_counts.features[feature.name]
            report.quality = quality.assess(feature, counts, _scale(counts), settings, quality_tests)
    inputs = [r for r, _ in tested if r.role == "feature"]
    drifted = [r.name for r in reports if r.drifted]
    share = sum(r.drifted for r in inputs) / len(inputs) if inputs else 0.0
    multivariate = _multivariate(profile_counts, settings)
    missing = [r.name for r in reports if r.quality.absent]
    unexpected = sorted(profile_counts.unexpected)
    issues = sum(1 for r in reports if r.quality.issues) + len(unexpected)
    return ModelReport(
        model=profile.model,
        version=profile.version,
        rows=profile_counts.rows,
        records=profile_counts.records,
        features=reports,
        drifted_features=drifted,
        drift_share=share,
        dataset_drift=(bool(inputs) and share >= settings.dataset_share)
        or bool(multivariate and multivariate.drifted),
        prediction_drift=any(r.drifted for r in reports if r.role in OUTPUT_ROLES),
        multivariate=multivariate,
        missing_features=missing,
        unexpected_features=unexpected,
        quality_issues=issues,
        settings=asdict(settings),
    )


def _multivariate(window: WindowCounts, settings: DriftSettings) -> MultivariateReport | None:
    mv = window.profile.multivariate
    counts = window.multivariate
    if mv is None or counts is None:
        return None
    ref = np.asarray(mv.error.counts)
    if counts.valid <= 0:
        return MultivariateReport(mv.features, 0.0, float("inf"), 1.0, False, 1.0)
    test = statistics.homogeneity(
        ref,
        counts.bins * _scale(counts),
        True,
        settings.min_expected,
        draws=_draws(1, settings.multivariate_alpha),
    )
    threshold = max(settings.multivariate_min_effect, test.critical_divergence(settings.multivariate_alpha))
    drifted = (
        test.p_value <= settings.multivariate_alpha and test.divergence >= settings.multivariate_min_effect
    )
    current_mean = window.error_sum / counts.valid
    ratio = current_mean / mv.error.mean if mv.error.mean > 0 else 1.0
    return MultivariateReport(mv.features, test.divergence, threshold, test.p_value, drifted, ratio)
