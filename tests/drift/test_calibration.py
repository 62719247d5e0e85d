"""Seeded simulations of the alarm's calibration: false alarms on same-distribution data at
every window size and many shapes, power on the issue's shifts at 100k vs 100k, no alarm on
negligible shifts at 1M, and the repeated-window rules on a stream.

The figures asserted here (and printed with -s) are the ones docs/drift.md quotes."""

import numpy as np
import pytest

from modeltel.drift import Cusum, DriftSettings, Persistence, WindowCounts, build_profile, evaluate
from modeltel.drift.check import run_check

from .simulation import SHAPES, SMALL_CATEGORIES, sample

# seeds per size: reference and window both of n rows; every shape is one feature of the model
FALSE_ALARM_PLAN = {100: 250, 1_000: 150, 10_000: 40, 100_000: 6, 1_000_000: 2}


@pytest.mark.parametrize(("n", "seeds"), FALSE_ALARM_PLAN.items())
def test_same_distribution_flags_nothing(n: int, seeds: int) -> None:
    """At most 1% of feature tests may flag anything (drift or quality); measured far below."""
    tests = drift_flags = quality_flags = model_flags = multivariate_flags = 0
    for seed in range(seeds):
        profile = build_profile(sample(2 * seed, n), model="sim", version="1")
        report = run_check(profile, sample(2 * seed + 1, n))
        kinds = {f.name: f.kind for f in report.features}
        assert kinds["zipf_category"] == "categorical" and kinds["integer"] == "discrete"
        tests += len(report.features)
        assert all(f.drifted == (f.score >= f.threshold) for f in report.features)
        drift_flags += sum(f.drifted for f in report.features)
        quality_flags += sum(bool(f.quality.issues) for f in report.features)
        model_flags += report.drifted
        multivariate_flags += bool(report.multivariate and report.multivariate.drifted)
    flagged = drift_flags + quality_flags
    print(
        f"\nn={n}: {tests} feature tests over {seeds} seeds, {drift_flags} drift + {quality_flags} quality"
        f" flags ({flagged / tests:.2%}); models with any drift {model_flags}/{seeds};"
        f" multivariate {multivariate_flags}/{seeds}"
    )
    assert tests == seeds * len(SHAPES)
    assert flagged / tests <= 0.01


def _power_table(rng: np.random.Generator, n: int, **shift: float) -> dict[str, np.ndarray]:
    weights = np.array([0.4, 0.25, 0.15, 0.12, 0.08]) if "category" not in shift else shift["category"]
    even = (
        np.array([0.5, 0.5]) if "even" not in shift else np.array([0.5 - shift["even"], 0.5 + shift["even"]])
    )
    mix = shift.get("mixture", 0.5)
    z1 = rng.normal(size=n)
    rho = shift.get("rho", 0.8)
    return {
        "x": rng.normal(shift.get("mean", 0.0), shift.get("sd", 1.0), n),
        "mixture": np.where(rng.random(n) < mix, rng.normal(-2, 1, n), rng.normal(2, 1, n)),
        "colour": SMALL_CATEGORIES[rng.choice(5, n, p=weights)],
        "coin": np.array(["heads", "tails"], dtype=object)[rng.choice(2, n, p=even)],
        "a": z1,
        "b": rho * z1 + np.sqrt(1 - rho**2) * rng.normal(size=n),
    }


POWER_CASES = {
    "mean shift 0.1 sd": ({"mean": 0.1}, "x"),
    "sd x1.2": ({"sd": 1.2}, "x"),
    "mixture weight 0.5 -> 0.6": ({"mixture": 0.6}, "mixture"),
    "5-point category shift 0.40/0.25 -> 0.35/0.30": (
        {"category": np.array([0.35, 0.30, 0.15, 0.12, 0.08])},
        "colour",
    ),
    "5-point shift between two even categories": ({"even": 0.05}, "coin"),
}


@pytest.mark.parametrize("case", POWER_CASES)
def test_power_at_100k(case: str) -> None:
    """Each shift is found in every seed, and only in the shifted feature."""
    shift, feature = POWER_CASES[case]
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        profile = build_profile(_power_table(rng, 100_000))
        report = run_check(profile, _power_table(rng, 100_000, **shift))
        print(f"\n{case} seed {seed}: score {report.feature(feature).score:.4f}")
        assert report.drifted_features == [feature], case
        assert report.feature(feature).score >= 1.5 * DriftSettings().min_effect  # margin


def test_correlation_change_only_multivariate_sees() -> None:
    rng = np.random.default_rng(9)
    profile = build_profile(_power_table(rng, 100_000))
    report = run_check(profile, _power_table(rng, 100_000, rho=0.0))
    assert report.drifted_features == []  # marginals unchanged
    assert report.multivariate is not None and report.multivariate.drifted
    assert report.multivariate.error_ratio > 2 and report.dataset_drift


def test_negligible_shift_at_1m_is_significant_but_not_drift() -> None:
    """0.03 sd at n = 1M: p ~ 1e-80, divergence ~0.001 < the 0.005 minimum effect."""
    rng = np.random.default_rng(11)
    n = 1_000_000
    profile = build_profile({"x": rng.normal(size=n)})
    report = run_check(profile, {"x": rng.normal(0.03, 1, n)})
    x = report.feature("x")
    assert x.p_value < 1e-20 and x.score < DriftSettings().min_effect and not x.drifted


def test_small_windows_do_not_alarm_on_sparse_categories() -> None:
    """Zipf categories, 100-row windows vs a 100k reference: the sparse tail is merged."""
    flags = 0
    profile = build_profile(sample(0, 100_000))
    for seed in range(1, 101):
        report = run_check(profile, sample(seed, 100))
        flags += len(report.drifted_features)
        for feature in report.features:  # score/threshold say the same as the verdict
            assert feature.drifted == (feature.score >= feature.threshold), feature
    assert flags <= 9  # at most 1% of the 900 feature tests


def test_repeated_windows_persistence_and_cusum() -> None:
    """A stream of 250 same-distribution windows per reference (2 references, two features):
    single-window flags happen at ~alpha, persistence (2 of 3) and CUSUM (k=0.5, h=5) keep
    quiet; after a real shift both alarm within 2 windows."""
    windows, single, persistent, cusum_alarms, evaluated = 250, 0, 0, 0, 0
    for ref_seed in range(2):
        rng = np.random.default_rng(ref_seed)
        profile = build_profile(_power_table(rng, 20_000))
        rules = {name: (Persistence(2, 3), Cusum()) for name in ("x", "colour")}
        for _ in range(windows):
            window = WindowCounts(profile)
            window.add(_power_table(rng, 1_000))
            report = evaluate(window)
            for name, (persistence, cusum) in rules.items():
                feature = report.feature(name)
                evaluated += 1
                single += feature.drifted
                persistent += persistence.update(feature.drifted)
                cusum_alarms += cusum.update(feature.p_value)
    print(
        f"\n{evaluated} window tests: {single} single flags, {persistent} persistence,"
        f" {cusum_alarms} CUSUM alarms"
    )
    assert single / evaluated <= 0.01
    assert persistent <= 1 and cusum_alarms <= 5  # CUSUM's in-control run length is ~930 windows
    # a real shift: persistence alarms on the 2nd shifted window, CUSUM soon after
    persistence, cusum = Persistence(2, 3), Cusum()
    alarms = []
    for _ in range(3):
        window = WindowCounts(profile)
        window.add(_power_table(rng, 10_000, mean=0.2))
        feature = evaluate(window).feature("x")
        alarms.append((persistence.update(feature.drifted), cusum.update(feature.p_value)))
    # persistence needs a second drifted window; CUSUM's z (capped at 10) crosses h=5 at once
    assert alarms == [(False, True), (True, True), (True, True)]


def test_persistence_state_round_trip() -> None:
    rule = Persistence(2, 3)
    rule.update(True)
    copy = Persistence(2, 3)
    copy.restore(rule.state())
    assert copy.update(True) and not Persistence(2, 3).update(True)
    with pytest.raises(ValueError):
        Persistence(4, 3)
