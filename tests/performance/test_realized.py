"""Realized metrics equal scikit-learn's on the same rows: binary, multiclass, regression,
with and without sampling weights, on real scikit-learn datasets and seeded edge cases; bad
input is a clear PerformanceInputError."""

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from modeltel.performance import PerformanceInputError, classification_metrics, regression_metrics

TOL = dict(rel=1e-9, abs=1e-12)


def _fitted(loader, model, seed=0):
    X, y = loader(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, random_state=seed)
    fitted = model.fit(Xa, ya)
    return yb, fitted.predict(Xb), fitted.predict_proba(Xb), fitted.classes_


def _weights(n, seed=1):
    # sampling weights as the collector sees them: 1 / sample_rate with rates 0.1 .. 1
    return 1.0 / np.random.default_rng(seed).choice([0.1, 0.25, 0.5, 1.0], n)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_equals_sklearn(weighted) -> None:
    y, pred, proba, classes = _fitted(load_breast_cancer, LogisticRegression(max_iter=5000))
    w = _weights(y.size) if weighted else None
    got = classification_metrics(y, pred, proba, classes=classes, weights=w)
    sw = {"sample_weight": w}
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred, **sw), **TOL)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, **sw), **TOL)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, **sw), **TOL)
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, **sw), **TOL)
    for name in ("precision", "recall", "f1"):
        want = getattr(skm, f"{name}_score")(y, pred, average="macro", **sw)
        assert got[f"{name}_macro"] == pytest.approx(want, **TOL)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1], **sw), **TOL)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, **sw), **TOL)
    if not weighted:  # calibration_curve takes no weights
        rate, mean_p = calibration_curve(y, proba[:, 1], n_bins=10, strategy="uniform")
        counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], proba[:, 1]), minlength=10)
        ece = np.sum(counts[counts > 0] / y.size * np.abs(rate - mean_p))
        assert got["calibration_error"] == pytest.approx(ece, **TOL)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loader", [load_wine, load_digits])
def test_multiclass_equals_sklearn(loader, weighted) -> None:
    y, pred, proba, classes = _fitted(loader, GaussianNB())
    w = _weights(y.size) if weighted else None
    got = classification_metrics(y, pred, proba, classes=classes, weights=w)
    sw = {"sample_weight": w}
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred, **sw), **TOL)
    for name in ("precision", "recall", "f1"):
        want = getattr(skm, f"{name}_score")(y, pred, average="macro", zero_division=0, **sw)
        assert got[f"{name}_macro"] == pytest.approx(want, **TOL)
        assert got[name] == got[f"{name}_macro"]
    want_auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", **sw)
    assert got["roc_auc"] == pytest.approx(want_auc, **TOL)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=classes, **sw), **TOL)


def test_string_labels_and_positive_class() -> None:
    y, pred, proba, _ = _fitted(load_breast_cancer, LogisticRegression(max_iter=5000))
    names = np.array(["malignant", "benign"])
    got = classification_metrics(names[y], names[pred], proba[:, ::-1], classes=["benign", "malignant"],
                                 positive="malignant")  # fmt: skip
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label=0), **TOL)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y == 0, proba[:, 0]), **TOL)
    default = classification_metrics(names[y], names[pred])  # positive: last in sorted order
    assert default["precision"] == pytest.approx(skm.precision_score(y, pred, pos_label=0), **TOL)


def test_labels_of_different_types_meet() -> None:
    # the wire's 1, a file's 1.0 and the collector's "1" are one class
    got = classification_metrics(np.array([1.0, 0.0, 1.0]), ["1", "0", "0"], classes=[0, 1])
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert classification_metrics([True, False], ["True", "True"])["recall"] == 1.0


def test_ties_in_scores_match_sklearn_auc() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    score = np.round(rng.random(2000) * 0.5 + 0.3 * y, 1)  # heavy ties
    w = _weights(2000)
    proba = np.column_stack([1 - score, score])
    got = classification_metrics(y, (score > 0.5).astype(int), proba, classes=[0, 1], weights=w)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score, sample_weight=w), **TOL)


def test_undefined_metrics_are_left_out() -> None:
    one_class = classification_metrics(["a"] * 5, ["a", "a", "b", "a", "a"], np.full((5, 2), 0.5),
                                       classes=["a", "b"], positive="b")  # fmt: skip
    assert "roc_auc" not in one_class and "recall" not in one_class  # no positive label
    assert one_class["precision"] == 0.0 and one_class["accuracy"] == 0.8
    assert not any(np.isnan(v) for v in one_class.values())
    never_positive = classification_metrics(["a", "b"], ["a", "a"], classes=["a", "b"], positive="b")
    assert "precision" not in never_positive and never_positive["recall"] == 0.0
    assert "roc_auc" not in classification_metrics(["a", "b"], ["a", "b"])  # no proba
    assert classification_metrics([], []) == {}
    assert regression_metrics([], []) == {}
    flat = regression_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert "r2" not in flat and flat["mae"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("weighted", [False, True])
def test_regression_equals_sklearn(weighted) -> None:
    X, y = load_diabetes(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, random_state=0)
    pred = Ridge(alpha=0.1).fit(Xa, ya).predict(Xb)
    w = _weights(yb.size) if weighted else None
    got = regression_metrics(yb, pred, weights=w)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(yb, pred, sample_weight=w), **TOL)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(yb, pred, sample_weight=w), **TOL)
    assert got["r2"] == pytest.approx(skm.r2_score(yb, pred, sample_weight=w), **TOL)
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(yb, pred, sample_weight=w), **TOL)


def test_mape_leaves_out_zero_labels() -> None:
    y = np.array([0.0, 2.0, 4.0, 0.0])
    p = np.array([1.0, 1.0, 5.0, -1.0])
    got = regression_metrics(y, p)
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y[1:3], p[1:3]))
    assert "mape" not in regression_metrics([0.0, 0.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: classification_metrics(["a", None], ["a", "b"]), "missing"),
        (lambda: classification_metrics(np.array([1.0, np.nan]), [1, 0]), "NaN"),
        (lambda: classification_metrics([["a"], "b"], ["a", "b"]), "not scalars"),
        (lambda: classification_metrics(["a", "c"], ["a", "b"], classes=["a", "b"]), "not in"),
        (lambda: classification_metrics(["a", "b"], ["a"]), "2 labels but 1"),
        (lambda: classification_metrics(["a", "b"], ["a", "b"], [[0.5, 0.5]] * 2), "needs classes"),
        (lambda: classification_metrics(["a", "b"], ["a", "b"], [[0.5, np.nan]] * 2, ["a", "b"]), "NaN"),
        (lambda: classification_metrics(["a", "b"], ["a", "b"], [[0.5, 0.5]], ["a", "b"]), "shape"),
        (lambda: classification_metrics(["a", "b"], ["a", "b"], [[1.5, 0.5]] * 2, ["a", "b"]), r"\[0, 1\]"),
        (lambda: classification_metrics(["a", "b"], ["a", "b"], weights=[1, -1]), "non-negative"),
        (lambda: classification_metrics(["a", "b"], ["a", "b"], positive="z"), "positive class"),
        (lambda: regression_metrics([1.0, np.inf], [1.0, 2.0]), "NaN or infinite"),
        (lambda: regression_metrics(["x", "y"], [1.0, 2.0]), "numbers"),
    ],
)
def test_bad_input_is_a_clear_error(call, message) -> None:
    with pytest.raises(PerformanceInputError, match=message):
        call()


def test_multiclass_calibration_error_is_top_label() -> None:
    y, pred, proba, classes = _fitted(load_digits, GaussianNB(var_smoothing=0.05))
    got = classification_metrics(y, pred, proba, classes=classes)
    confidence, correct = proba.max(axis=1), classes[proba.argmax(axis=1)] == y
    rate, mean_p = calibration_curve(correct, confidence, n_bins=10, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], confidence), minlength=10)
    assert got["calibration_error"] == pytest.approx(
        np.sum(counts[counts > 0] / y.size * np.abs(rate - mean_p))
    )


def test_integer_weights_equal_repeated_rows() -> None:
    # calibration_curve takes no weights: weighted metrics must equal the rows repeated
    y, pred, proba, classes = _fitted(load_wine, GaussianNB())
    w = np.random.default_rng(2).integers(1, 5, y.size)
    weighted = classification_metrics(y, pred, proba, classes=classes, weights=w)
    repeated = classification_metrics(
        np.repeat(y, w), np.repeat(pred, w), np.repeat(proba, w, axis=0), classes
    )
    assert weighted == pytest.approx(repeated, rel=1e-9)
