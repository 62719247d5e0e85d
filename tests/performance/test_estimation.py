"""Label-free estimation: estimated metrics track realized ones on covariate-shifted real
data (scikit-learn's breast cancer and digits) within their bands; the bands' coverage on
seeded streams with known P(y|x) is near nominal, and collapses under concept drift or
without calibration (so the tests can fail); bad input is a clear error."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modeltel.drift import build_profile
from modeltel.performance import (
    CalibrationMap,
    PerformanceEstimator,
    PerformanceInputError,
    classification_metrics,
    estimation_gap,
)
from tests.performance import simulation as sim

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _real(loader, model, feature: int):
    """Train on 30%, profile a labelled 35% reference, keep 35% as the production pool, and
    shift it by keeping the rows above / below the median of one feature (P(y|x) unchanged)."""
    X, y = loader(return_X_y=True)
    X_train, rest, y_train, y_rest = train_test_split(X, y, train_size=0.3, random_state=0)
    X_ref, X_pool, y_ref, y_pool = train_test_split(rest, y_rest, test_size=0.5, random_state=1)
    fitted = model.fit(X_train, y_train)
    proba_ref = fitted.predict_proba(X_ref)
    reference = {"target": y_ref, "prediction": fitted.predict(X_ref)}
    reference.update({f"proba_{c}": proba_ref[:, i] for i, c in enumerate(fitted.classes_)})
    profile = build_profile(reference, target_column="target", prediction_columns=["prediction"])
    high = X_pool[:, feature] > np.median(X_pool[:, feature])
    pool = (y_pool, fitted.predict(X_pool), fitted.predict_proba(X_pool))
    return profile, [(name, [a[rows] for a in pool]) for name, rows in (("high", high), ("low", ~high))]


@pytest.mark.parametrize(
    ("loader", "model", "feature"),
    [
        (load_breast_cancer, make_pipeline(StandardScaler(), LogisticRegression(C=0.1)), 27),
        # strongly regularised: underconfident (reference calibration error ~0.34)
        (load_digits, make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000)), 36),
    ],
)
def test_estimates_track_realized_on_shifted_real_data(loader, model, feature) -> None:
    profile, shifted = _real(loader, model, feature)
    estimator = PerformanceEstimator.from_profile(profile)
    classes = profile.performance.classes
    covered = total = 0
    for _name, (y, pred, proba) in shifted:
        estimates = estimator.estimate(proba, y_pred=pred)
        realized = classification_metrics(
            y, pred, proba, classes=classes, positive=profile.performance.positive
        )
        for metric in METRICS:
            if metric in realized and metric in estimates:
                total += 1
                covered += estimates[metric].covers(realized[metric])
                # outside the band or not, the estimate is never far off on these splits
                band = estimates[metric].upper - estimates[metric].lower
                gap = abs(estimates[metric].value - realized[metric])
                assert gap < max(0.05, band), (metric, estimates[metric], realized[metric])
    # 95% bands on 2 splits x 5 metrics (correlated): allow one miss per model
    assert covered >= total - 1, (covered, total)


def _coverage(
    kind: str,
    estimator,
    windows: int,
    n: int,
    shift: float,
    concept=None,
    seed: int = 1,
    weighted: bool = False,
):
    make = sim.binary if kind == "binary" else sim.multiclass
    rng = np.random.default_rng(seed)
    hits = {m: 0 for m in METRICS}
    gaps = {m: [] for m in METRICS}
    for _ in range(windows):
        x = sim.features(rng, n, shift)
        y, proba = make(rng, x) if concept is None else make(rng, x, concept)
        pred = proba.argmax(axis=1)
        estimates = estimator.estimate(proba)
        realized = classification_metrics(
            y, pred, proba, classes=estimator.classes, positive=estimator.positive
        )
        for m in METRICS:
            hits[m] += estimates[m].covers(realized[m])
            gaps[m].append(estimates[m].value - realized[m])
    return {m: hits[m] / windows for m in METRICS}, {m: float(np.mean(g)) for m, g in gaps.items()}


@pytest.fixture(scope="module")
def estimators():
    return {
        kind: PerformanceEstimator.from_profile(sim.reference_profile(kind))
        for kind in ("binary", "multiclass")
    }


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_band_coverage_under_covariate_shift(estimators, kind) -> None:
    """95% bands, 200 windows of 500 rows with the first feature's mean moved by 0.7 sd.
    The binomial sd of a 95% coverage over 200 windows is 1.5 points: [0.89, 0.99] is ~4 sd
    wide below and would fail for bands that are too narrow or too wide (or biased)."""
    coverage, gaps = _coverage(kind, estimators[kind], windows=200, n=500, shift=0.7)
    for metric, rate in coverage.items():
        assert 0.89 <= rate <= 0.99, (metric, coverage, gaps)
        assert abs(gaps[metric]) < 0.01, (metric, gaps)  # unbiased to a point


def test_band_coverage_with_sampling_weights(estimators) -> None:
    """Half the rows carry weight 10 (kept at a 10% sample rate): the bands widen with the
    smaller effective n and still cover ~95% (150 windows; binomial sd 1.8 points)."""
    coverage, gaps = _coverage("binary", estimators["binary"], windows=150, n=500, shift=0.7, weighted=True)
    for metric, rate in coverage.items():
        assert 0.88 <= rate <= 0.99, (metric, coverage, gaps)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_concept_drift_breaks_coverage(estimators, kind) -> None:
    """P(y|x) changed (the first feature's effect reversed): estimation cannot see it, so the
    realized metrics leave the bands: the gap is the concept-drift signal."""
    concept = sim.BINARY_TRUE * [-1, 1] if kind == "binary" else sim.MULTI_TRUE[::-1]
    coverage, gaps = _coverage(kind, estimators[kind], windows=40, n=500, shift=0.0, concept=concept)
    assert coverage["accuracy"] < 0.2 and gaps["accuracy"] > 0.1, (coverage, gaps)
    rng = np.random.default_rng(9)
    y, proba = (sim.binary if kind == "binary" else sim.multiclass)(rng, sim.features(rng, 2_000), concept)
    estimator = estimators[kind]
    realized = classification_metrics(y, proba.argmax(axis=1), proba, classes=estimator.classes,
                                      positive=estimator.positive)  # fmt: skip
    gap = estimation_gap(estimator.estimate(proba), realized)
    assert set(gap) == set(METRICS) and gap["accuracy"] < -0.1


def test_without_calibration_estimates_are_biased(estimators) -> None:
    """The overconfident raw probabilities taken at face value: accuracy is overestimated and
    bands miss, i.e. the reference calibration is what makes the estimate right."""
    fitted = estimators["binary"]
    identity = {fitted.positive: CalibrationMap(knots=[0.0, 1.0], values=[0.0, 1.0])}
    raw = PerformanceEstimator(fitted.classes, identity, fitted.positive)
    coverage, gaps = _coverage("binary", raw, windows=40, n=500, shift=0.7)
    assert coverage["accuracy"] < 0.5 and gaps["accuracy"] > 0.02, (coverage, gaps)


def test_bands_shrink_like_one_over_root_n_and_subsampling_agrees(estimators) -> None:
    estimator = estimators["binary"]
    rng = np.random.default_rng(5)
    x = sim.features(rng, 40_000)
    _, proba = sim.binary(rng, x)
    width = lambda e: e["accuracy"].upper - e["accuracy"].lower  # noqa: E731
    small = width(estimator.estimate(proba[:2_500]))
    full = PerformanceEstimator.from_profile(sim.reference_profile("binary"), max_band_rows=50_000)
    exact = width(full.estimate(proba))
    scaled = width(estimator.estimate(proba))  # simulated on 5,000 rows, scaled to 40,000
    assert small / exact == pytest.approx(4.0, rel=0.2)
    assert scaled / exact == pytest.approx(1.0, rel=0.15)


def test_weights_act_like_repeated_rows(estimators) -> None:
    estimator = estimators["multiclass"]
    rng = np.random.default_rng(7)
    _, proba = sim.multiclass(rng, sim.features(rng, 300))
    w = rng.integers(1, 4, 300)
    weighted = estimator.estimate(proba, weights=w)
    repeated = estimator.estimate(np.repeat(proba, w, axis=0))
    for metric in METRICS:
        assert weighted[metric].value == pytest.approx(repeated[metric].value, rel=1e-9)


def test_estimate_on_the_reference_matches_its_baseline() -> None:
    profile = sim.reference_profile("multiclass", seed=3)
    rng = np.random.default_rng(3)  # the same rows as the reference
    _, proba = sim.multiclass(rng, sim.features(rng, 20_000))
    estimates = PerformanceEstimator.from_profile(profile).estimate(proba)
    for metric in METRICS:
        assert estimates[metric].covers(profile.performance.baseline[metric]), metric


def test_from_profile_needs_a_labelled_classifier_with_probabilities() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    assert PerformanceEstimator.from_profile(build_profile({"x": x})) is None
    regression = build_profile({"x": x, "y": 2 * x + rng.normal(size=200), "prediction": 2 * x},
                               target_column="y")  # fmt: skip
    assert regression.performance.task == "regression"
    assert PerformanceEstimator.from_profile(regression) is None
    labels_only = build_profile({"x": x, "y": x > 0, "prediction": x > 0.1}, target_column="y")
    assert labels_only.performance.baseline["accuracy"] > 0.8
    assert PerformanceEstimator.from_profile(labels_only) is None


def test_bad_input(estimators) -> None:
    estimator = estimators["multiclass"]
    good = np.full((4, 3), 1 / 3)
    assert estimator.estimate(np.empty((0, 3))) == {}
    with pytest.raises(PerformanceInputError, match="NaN"):
        estimator.estimate(np.where(np.eye(4, 3) > 0, np.nan, good))
    with pytest.raises(PerformanceInputError, match="shape"):
        estimator.estimate(np.full((4, 2), 0.5))
    with pytest.raises(PerformanceInputError, match="not in"):
        estimator.estimate(good, y_pred=["0", "1", "2", "7"])
    with pytest.raises(PerformanceInputError, match="4 probability rows but 3"):
        estimator.estimate(good, y_pred=["0", "1", "2"])
    with pytest.raises(PerformanceInputError, match="weights"):
        estimator.estimate(good, weights=[1, 1, np.inf, 1])
    with pytest.raises(PerformanceInputError):
        estimator.estimate([["a", "b", "c"]] * 4)
    binary = estimators["binary"]
    one_column = binary.estimate(np.array([0.1, 0.9, 0.8]))  # the positive class's column alone
    assert one_column["accuracy"].value == pytest.approx(
        binary.estimate(np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8]]))["accuracy"].value
    )
