"""Profiles (binning, merging, validation) and the statistics under the verdicts."""

import json

import numpy as np
import pytest

from modeltel.drift import (
    Profile,
    ProfileError,
    WindowCounts,
    benjamini_hochberg,
    build_profile,
    evaluate,
    load_directory,
)
from modeltel.drift import statistics as st
from modeltel.drift.binning import bin_labels


def test_point_masses_discrete_values_and_open_ends() -> None:
    rng = np.random.default_rng(0)
    n = 10_000
    profile = build_profile(
        {
            "zero_inflated": np.where(rng.random(n) < 0.6, 0.0, rng.exponential(size=n)),
            "dice": rng.integers(1, 7, n),
        }
    )
    zi = profile.feature("zero_inflated").numeric
    labels = bin_labels(zi.edges)
    zero = labels.index("= 0")
    assert zi.counts[zero] == pytest.approx(0.6 * n, rel=0.05)  # the point mass holds exactly 0
    assert labels[0].startswith("<") and labels[-1].startswith(">=")  # open outer bins
    assert 10 <= len(zi.edges) <= 21
    dice = profile.feature("dice")
    assert dice.kind == "discrete"
    assert [label for label in bin_labels(dice.numeric.edges) if label.startswith("=")] == [
        f"= {v}" for v in range(1, 7)
    ]
    window = WindowCounts(profile)
    window.add({"dice": np.array([3.5, 0.0, 7.0]), "zero_inflated": np.array([-1.0, 0.0, 1e9])})
    assert window.features["dice"].below == 1 and window.features["dice"].above == 1
    assert window.features["zero_inflated"].below == 1 and window.features["zero_inflated"].above == 1
    assert window.features["zero_inflated"].bins[zero] == 1


def test_merge_profiles_built_on_the_same_bins() -> None:
    rng = np.random.default_rng(1)
    first = build_profile({"x": rng.normal(size=4_000), "c": rng.choice(["a", "b", "z"], 4_000)})
    second = build_profile(
        {"x": rng.normal(1, 2, size=2_000), "c": rng.choice(["a", "q"], 2_000)}, like=first
    )
    merged = first.merge(second)
    assert merged.rows == 6_000
    x = merged.feature("x").numeric
    assert sum(x.counts) == 6_000 and x.edges == first.feature("x").numeric.edges
    assert x.mean == pytest.approx(1 / 3, abs=0.1) and x.max >= second.feature("x").numeric.max
    c = merged.feature("c").categorical
    assert c.categories == first.feature("c").categorical.categories
    assert "q" in (c.known or [])
    other = build_profile({"x": rng.normal(size=100), "c": ["a"] * 100})
    with pytest.raises(ProfileError, match="edges differ"):
        first.merge(other)


def test_profile_validation(tmp_path) -> None:
    profile = build_profile({"x": np.arange(100.0)})
    data = json.loads(profile.to_json())
    data["format_version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="newer"):
        Profile.load(path)
    data["format_version"] = 1
    data["features"][0]["numeric"]["counts"] = [1.0]
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="counts for"):
        Profile.load(path)
    with pytest.raises(ProfileError, match="cannot read"):
        Profile.load(tmp_path / "absent.json")


def test_prediction_output_drift_is_reported_apart() -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    profile = build_profile(
        {"x": rng.normal(size=n), "score": rng.beta(2, 5, n), "label": rng.choice(["yes", "no"], n)},
        score_columns=["score"],
        prediction_columns=["label"],
    )
    window = WindowCounts(profile)
    window.add({"x": rng.normal(size=n), "score": rng.beta(5, 2, n), "label": rng.choice(["yes", "no"], n)})
    report = evaluate(window)
    assert report.drifted_features == ["score"]
    assert report.prediction_drift and report.drift_share == 0.0 and not report.dataset_drift


def test_benjamini_hochberg_step_up() -> None:
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205])
    rejected, level = benjamini_hochberg(p, 0.05)
    # largest i with p_(i) <= i q / m: i = 2 (0.008 <= 0.0125; 0.039 > 0.01875)
    assert rejected.tolist() == [True, True, False, False, False, False, False, False]
    assert level == pytest.approx(2 * 0.05 / 8)
    none, level = benjamini_hochberg(np.array([0.5, 0.9]), 0.05)
    assert not none.any() and level == pytest.approx(0.025)


def test_sparse_bins_merge_until_expected_counts_are_adequate() -> None:
    reference = np.array([500.0, 3, 2, 1, 0, 400, 90, 4])
    current = np.array([50.0, 0, 1, 0, 2, 40, 8, 1])
    ref, cur = st.merge_sparse(reference, current, adjacent=True)
    expected = np.outer([ref.sum(), cur.sum()], ref + cur) / (ref.sum() + cur.sum())
    assert expected.min() >= 5 and ref.sum() == reference.sum() and cur.sum() == current.sum()
    same = st.homogeneity(reference, reference / 10, adjacent=True)
    assert same.divergence == pytest.approx(0.0, abs=1e-12) and same.p_value == pytest.approx(1.0)


def test_descriptive_statistics() -> None:
    p = np.array([50.0, 50.0])
    q = np.array([0.0, 100.0])
    # m = (0.25, 0.75): KL(p||m) = 0.5 log2 2 + 0.5 log2(2/3), KL(q||m) = log2(4/3)
    divergence = (0.5 + 0.5 * np.log2(2 / 3) + np.log2(4 / 3)) / 2
    assert st.jensen_shannon(p, q) == pytest.approx(np.sqrt(divergence))
    assert st.jensen_shannon(p, p) == 0.0 and st.hellinger(p, p) == pytest.approx(0.0, abs=1e-7)
    assert st.binned_ks(p, q) == pytest.approx(0.5)
    assert st.binned_wasserstein(p, q, np.array([0.0, 1.0])) == pytest.approx(0.5)
    assert st.psi(p, p) == 0.0 and st.psi(p, q) > 1


def test_load_directory(tmp_path) -> None:
    build_profile({"x": np.arange(50.0)}, model="a", version="1").save(tmp_path / "a1.json")
    build_profile({"x": np.arange(50.0)}, model="a", version="2").save(tmp_path / "a2.json")
    build_profile({"x": np.arange(50.0)}, model="a", version="2").save(tmp_path / "a2-copy.json")
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "notes.txt").write_text("ignored")
    profiles, errors = load_directory(tmp_path)
    assert sorted(profiles) == [("a", "1"), ("a", "2")]
    assert sorted(errors) == [str(tmp_path / "a2.json"), str(tmp_path / "broken.json")]
    assert "not JSON" in errors[str(tmp_path / "broken.json")]


def test_threshold_matches_the_resampled_p_value() -> None:
    """Small tables get a resampled p; the threshold is read off the same null, so
    ``p <= alpha`` and ``D >= threshold`` agree."""
    rng = np.random.default_rng(4)
    reference = np.full(20, 5_000.0)
    resampled = []
    for _ in range(200):
        current = rng.multinomial(150, np.full(20, 0.05) + np.linspace(-0.02, 0.02, 20)).astype(float)
        test = st.homogeneity(reference, current, adjacent=True, draws=4_000)
        if test.null is None:
            continue
        resampled.append(test)
        for alpha in (0.05, 0.01, 0.002):
            assert (test.p_value <= alpha) == (test.divergence >= test.critical_divergence(alpha))
    assert len(resampled) >= 20
    assert resampled[0].critical_divergence(1e-5) == float("inf")  # below the 1/(B+1) resolution
