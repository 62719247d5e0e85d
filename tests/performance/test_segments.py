"""Per-segment metrics equal scikit-learn's on each group's rows; selection rates and
disparities from their definitions; the cardinality cap keeps series bounded and stable."""

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modeltel.performance.segments import (
    MISSING,
    OTHER,
    SegmentCap,
    disparity,
    segment_metrics,
    selection_rates,
)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1)).fit(Xa, ya)
    # a segment attribute from the tumour size: three groups of very different difficulty
    size = np.array(["small", "medium", "large"])[
        np.digitize(Xb[:, 0], np.quantile(Xb[:, 0], [1 / 3, 2 / 3]))
    ]
    return yb, model.predict(Xb), model.predict_proba(Xb), size


def test_per_group_metrics_equal_sklearn(cancer) -> None:
    y, pred, proba, size = cancer
    w = 1 / np.random.default_rng(0).choice([0.2, 0.5, 1.0], y.size)
    got = segment_metrics(size, y, pred, proba, classes=[0, 1], weights=w)
    assert set(got) == {"small", "medium", "large"}
    for group, metrics in got.items():
        rows = size == group
        sw = {"sample_weight": w[rows]}
        assert metrics["rows"] == pytest.approx(w[rows].sum())
        assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y[rows], pred[rows], **sw))
        assert metrics["selection_rate"] == pytest.approx(np.average(pred[rows] == 1, weights=w[rows]))
        tn, fp, fn, tp = skm.confusion_matrix(y[rows], pred[rows], labels=[0, 1], **sw).ravel()
        if tp + fn:
            assert metrics["tpr"] == pytest.approx(tp / (tp + fn))
            assert metrics["recall"] == pytest.approx(skm.recall_score(y[rows], pred[rows], **sw))
        if fp + tn:
            assert metrics["fpr"] == pytest.approx(fp / (fp + tn))


def test_disparity_from_definitions(cancer) -> None:
    y, pred, proba, size = cancer
    per_group = segment_metrics(size, y, pred, proba, classes=[0, 1])
    got = disparity(per_group)
    rates = [m["selection_rate"] for m in per_group.values()]
    assert got["selection_rate_ratio"] == pytest.approx(min(rates) / max(rates))
    assert got["selection_rate_difference"] == pytest.approx(max(rates) - min(rates))
    assert got["selection_rate_ratio"] < 0.5  # large tumours are mostly malignant (class 0)
    assert selection_rates(size, pred, positive=1) == pytest.approx(
        {g: m["selection_rate"] for g, m in per_group.items()}
    )
    # a group below min_rows takes no part; one group alone has no disparity
    assert disparity(per_group, min_rows=10_000) == {}


def test_fair_and_unfair_simulated_models() -> None:
    """Seeded: two groups with the same score distribution, thresholded the same (fair) or
    with a group-dependent threshold (unfair): the four-fifths rule separates them."""
    rng = np.random.default_rng(4)
    n = 20_000
    group = rng.choice(["a", "b"], n)
    score = rng.random(n)
    label = (rng.random(n) < score).astype(int)
    fair = (score > 0.5).astype(int)
    unfair = (score > np.where(group == "a", 0.5, 0.7)).astype(int)
    fair_d = disparity(segment_metrics(group, label, fair))
    unfair_d = disparity(segment_metrics(group, label, unfair))
    assert fair_d["selection_rate_ratio"] > 0.95 and fair_d["tpr_difference"] < 0.03
    assert unfair_d["selection_rate_ratio"] == pytest.approx(0.3 / 0.5, abs=0.03)
    assert unfair_d["tpr_difference"] > 0.2


def test_regression_segments() -> None:
    X, y = load_diabetes(return_X_y=True)
    pred = Ridge().fit(X, y).predict(X)
    sex = np.where(X[:, 1] > 0, "f", "m")
    got = segment_metrics(sex, y, pred, task="regression")
    for group, metrics in got.items():
        rows = sex == group
        assert metrics["mae"] == pytest.approx(skm.mean_absolute_error(y[rows], pred[rows]))


def test_cardinality_cap_is_bounded_and_stable() -> None:
    cap = SegmentCap(max_groups=3)
    first = cap.assign(np.array(["eu", "us", "eu", "apac", "latam", None, "us"], dtype=object))
    assert first.tolist() == ["eu", "us", "eu", "apac", OTHER, MISSING, "us"]
    # a later batch: known groups keep their names, new ones are _other even if frequent
    later = cap.assign(["latam"] * 5 + ["apac", float("nan")])
    assert later.tolist() == [OTHER] * 5 + ["apac", MISSING]
    assert cap.groups == ["eu", "us", "apac"]
    ids = SegmentCap(max_groups=20).assign(np.arange(10_000))
    assert np.unique(ids).size == 21  # 20 ids and _other, not 10,000 series
    assert SegmentCap(known=["x"]).assign(np.array([1.0, 1.5])).tolist() == ["1", "1.5"]
