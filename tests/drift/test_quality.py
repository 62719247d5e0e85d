"""Data quality is reported apart from drift: missing-rate change, new categories, out of
range, constant features, schema changes, each its own metric."""

import numpy as np
import pytest

from modeltel.drift import build_profile
from modeltel.drift.check import run_check


def _table(rng: np.random.Generator, n: int, missing: float = 0.02) -> dict[str, np.ndarray]:
    x = rng.normal(size=n)
    x[rng.random(n) < missing] = np.nan
    return {
        "x": x,
        "city": rng.choice(np.array(["paris", "rome", "oslo"], dtype=object), n),
        "z": rng.normal(size=n),
    }


@pytest.fixture(scope="module")
def profile():
    return build_profile(_table(np.random.default_rng(0), 20_000))


def test_missing_rate_change_is_quality_not_drift(profile) -> None:
    report = run_check(profile, _table(np.random.default_rng(1), 5_000, missing=0.10))
    x = report.feature("x")
    assert x.quality.issues == ["missing_ratio"]
    assert x.quality.missing_ratio == pytest.approx(0.10, abs=0.01)
    assert x.quality.reference_missing_ratio == pytest.approx(0.02, abs=0.003)
    assert not x.drifted  # the values present are still N(0, 1)
    assert report.quality_issues == 1 and not report.drifted


def test_all_missing_never_reads_as_no_drift(profile) -> None:
    table = _table(np.random.default_rng(2), 1_000)
    table["x"] = np.full(1_000, np.nan)
    x = run_check(profile, table).feature("x")
    assert not x.tested and x.quality.missing_ratio == 1.0 and "missing_ratio" in x.quality.issues


def test_unseen_category_is_new_category_ratio(profile) -> None:
    table = _table(np.random.default_rng(3), 5_000)
    table["city"][:250] = "lima"
    city = run_check(profile, table).feature("city")
    assert city.quality.new_category_ratio == pytest.approx(0.05)
    assert city.quality.new_categories == ["lima"]
    assert "new_category" in city.quality.issues


def test_out_of_range_and_constant(profile) -> None:
    table = _table(np.random.default_rng(4), 5_000)
    table["x"][:200] = 50.0
    table["z"] = np.full(5_000, 0.25)
    report = run_check(profile, table)
    x, z = report.feature("x"), report.feature("z")
    assert x.quality.out_of_range_ratio == pytest.approx(200 / 5_000, rel=0.05)
    assert "out_of_range" in x.quality.issues
    assert z.quality.constant and "constant" in z.quality.issues


def test_strings_and_nonfinite_in_a_numeric_column_are_counted(profile) -> None:
    table = _table(np.random.default_rng(5), 1_000)
    x = table["x"].astype(object)
    x[:10] = "oops"
    x[10:20] = np.inf
    x[20:25] = None
    table["x"] = x
    quality = run_check(profile, table).feature("x").quality
    assert quality.type_error_ratio == pytest.approx(0.01)
    assert quality.nonfinite_ratio == pytest.approx(0.01)
    assert {"type_errors", "nonfinite"} <= set(quality.issues)


def test_schema_changes(profile) -> None:
    table = _table(np.random.default_rng(6), 1_000)
    del table["z"]
    table["surprise"] = np.ones(1_000)
    report = run_check(profile, table)
    assert report.missing_features == ["z"] and report.unexpected_features == ["surprise"]
    assert report.feature("z").quality.issues == ["absent"]
    assert report.quality_issues == 2
