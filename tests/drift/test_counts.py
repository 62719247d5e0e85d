"""The window accumulator: column-wise ingest of arrays and raw JSON values, weights, merge,
checkpoint round trip, and bad values counted instead of crashing or vanishing."""

import json

import numpy as np
import pytest

from modeltel.drift import Profile, WindowCounts, build_profile, evaluate


@pytest.fixture(scope="module")
def profile() -> Profile:
    rng = np.random.default_rng(7)
    n = 5_000
    return build_profile(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 4, n),
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "score": rng.random(n),
        },
        model="m",
        version="1",
        score_columns=["score"],
    )


def test_profile_kinds_and_round_trip(profile: Profile, tmp_path) -> None:
    kinds = {f.name: f.kind for f in profile.features}
    assert kinds == {"x": "numeric", "k": "discrete", "city": "categorical", "score": "numeric"}
    assert profile.feature("score").role == "score"
    x = profile.feature("x").numeric
    assert 15 <= len(x.edges) <= 20 and sum(x.counts) == 5_000
    path = tmp_path / "p.json"
    profile.save(path)
    assert Profile.load(path) == profile
    assert len(path.read_bytes()) < 20_000


def test_raw_json_values_are_counted_never_dropped(profile: Profile) -> None:
    window = WindowCounts(profile)
    window.add(
        {
            "x": [0.5, None, "NaN", "Infinity", "-Infinity", "abc", True, {"a": 1}, 3, 99.0],
            "city": ["paris", None, "lima", 5, ["x"], "rome", "rome", "lima", "oslo", True],
        }
    )
    x = window.features["x"]
    assert (x.valid, x.missing, x.nonfinite, x.type_errors) == (3, 1, 3, 3)
    assert x.above == 1  # 99 is beyond the reference max
    city = window.features["city"]
    assert (city.valid, city.missing, city.type_errors) == (8, 1, 1)
    assert city.new == 4  # lima twice, "5", "True"
    assert set(city.new_names) == {"lima", "5", "True"}
    assert window.features["k"].absent == 10
    report = evaluate(window)
    assert report.missing_features == ["k", "score"]
    q = report.feature("x").quality
    assert q.type_error_ratio == pytest.approx(0.3) and q.nonfinite_ratio == pytest.approx(0.3)
    assert {"type_errors", "nonfinite"} <= set(q.issues)
    assert report.feature("city").quality.new_category_ratio == pytest.approx(0.5)


def test_numpy_columns_nan_is_missing_inf_is_nonfinite(profile: Profile) -> None:
    window = WindowCounts(profile)
    window.add({"x": np.array([0.0, np.nan, np.inf, 1.0]), "k": np.array([1, 2, 3, 9])})
    assert window.features["x"].missing == 1 and window.features["x"].nonfinite == 1
    assert window.features["k"].above == 1


def test_weights_merge_and_checkpoint(profile: Profile) -> None:
    rng = np.random.default_rng(1)
    a, b = WindowCounts(profile), WindowCounts(profile)
    xa, xb = rng.normal(size=1000), rng.normal(size=500)
    a.add({"x": xa}, weights=np.full(1000, 2.0))
    b.add({"x": xb.tolist(), "extra": [1] * 500})
    restored = WindowCounts.from_dict(profile, json.loads(json.dumps(a.to_dict())))
    restored.merge(b)
    whole = WindowCounts(profile)
    whole.add({"x": np.concatenate([xa, xb])}, weights=np.concatenate([np.full(1000, 2.0), np.ones(500)]))
    assert np.allclose(restored.features["x"].bins, whole.features["x"].bins)
    assert restored.features["x"].rows == 2500 and restored.rows == 2500
    assert restored.unexpected == {"extra": 500}
    assert restored.features["x"].n_eff == pytest.approx(whole.features["x"].n_eff)
    # Kish effective n: 1000 rows of weight 2 and 500 of weight 1
    assert whole.features["x"].n_eff == pytest.approx(2500**2 / 4500)


def test_weighted_window_is_tested_at_its_effective_n(profile: Profile) -> None:
    """Re-weighting by 1/sample_rate must not inflate the test's n: 200 records of weight
    100 are 200 observations, not 20,000."""
    rng = np.random.default_rng(3)
    window = WindowCounts(profile)
    window.add({"x": rng.normal(0.3, 1, 200)}, weights=np.full(200, 100.0))
    report = evaluate(window).feature("x")
    assert window.features["x"].valid == 20_000 and report.n_eff == pytest.approx(200)
    assert report.p_value > 1e-6


def test_column_length_mismatch_is_an_error(profile: Profile) -> None:
    window = WindowCounts(profile)
    with pytest.raises(ValueError, match="3 values for 2 rows"):
        window.add({"x": [1.0, 2.0], "k": [1, 2, 3]})


def test_profile_from_raw_json_columns() -> None:
    """The processor's bootstrap path: a reference built from the first N records' raw values."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=300).tolist()
    x[:3] = [None, "NaN", "Infinity"]
    city = rng.choice(["a", "b"], 300).tolist()
    city[0] = None
    profile = build_profile({"x": x, "city": city, "flag": [True, False] * 150}, model="m", version="2")
    kinds = {f.name: f.kind for f in profile.features}
    assert kinds == {"x": "numeric", "city": "categorical", "flag": "categorical"}
    x_profile = profile.feature("x")
    assert (x_profile.missing, x_profile.nonfinite, sum(x_profile.numeric.counts)) == (1, 2, 297)
    window = WindowCounts(profile)
    window.add({"x": x, "city": city, "flag": [True, False] * 150})
    report = evaluate(window)
    assert not report.drifted and report.quality_issues == 0


def test_bin_indices_for_exemplars(profile: Profile) -> None:
    window = WindowCounts(profile)
    x = profile.feature("x").numeric
    values = [x.min - 1, None, "abc", x.max + 1, 0.0]
    index = window.bin_indices("x", values)
    assert index.tolist()[:4] == [0, -1, -1, len(x.edges)]
    assert window.bin_indices("city", ["paris", None, "lima"]).tolist() == [
        profile.feature("city").categorical.categories.index("paris"),
        -1,
        len(profile.feature("city").categorical.categories),  # unseen -> "other"
    ]
    window.add({"x": values})  # the bins the counts used are the same
    assert window.features["x"].bins[index[4]] == 1


def test_huge_finite_values_keep_the_multivariate_sums_finite() -> None:
    """1e300 is a valid number; its squared error overflows. The row still lands in the top
    error bin and the window's sums stay finite, so its checkpoint round-trips."""
    rng = np.random.default_rng(4)
    data = {f"x{i}": rng.normal(size=4000) for i in range(4)}
    profile = build_profile(data, model="m", version="1")
    assert profile.multivariate is not None
    window = WindowCounts(profile)
    window.add({name: np.r_[values[:99], 1e300] for name, values in data.items()})
    assert np.isfinite(window.error_sum)
    assert window.multivariate.bins[-1] >= 1
    restored = WindowCounts.from_dict(profile, json.loads(json.dumps(window.to_dict(), allow_nan=False)))
    assert restored.to_dict() == window.to_dict()
