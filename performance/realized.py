"""Realized performance: metrics of predictions against their labels, weighted, vectorised.

Each function equals scikit-learn's on the same rows (the tests assert it, with and without
weights), and leaves out a metric the rows do not define instead of returning NaN:

- ``precision`` / ``recall`` / ``f1`` (binary, of the positive class): left out when their
  denominator is zero (no predicted positives / no actual positives / neither).
- ``precision_macro`` / ``recall_macro`` / ``f1_macro``: unweighted mean over the classes
  present in the labels or the predictions (scikit-learn's ``labels=None``), a class's
  0/0 term counting 0 (scikit-learn's ``zero_division=0``).
- ``roc_auc``: needs ``proba``; binary: of the positive class's probability; multiclass: macro
  one-vs-rest over the classes that have both positive and negative rows, left out when fewer
  than two classes are present in the labels.
- ``log_loss``: needs ``proba``; probabilities clipped to [eps, 1 - eps] (float64 eps).
- ``calibration_error``: expected calibration error over 10 equal-width bins on [0, 1],
  right-closed like ``sklearn.calibration.calibration_curve`` (``(0.1, 0.2]``; the first bin
  holds 0): weighted mean over bins of |observed rate - mean probability|. Binary: of the
  positive class's probability; multiclass: top-label (the argmax probability against
  "argmax is the label").
- regression ``r2`` is left out when the labels are constant (or fewer than 2 rows); ``mape``
  leaves out rows whose label is 0 (scikit-learn divides by a tiny epsilon there and returns
  ~1e15) and is left out when every label is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modeltel.performance.labels import (
    PerformanceInputError,
    checked_proba,
    checked_weights,
    class_labels,
    float_array,
)

CALIBRATION_BINS = 10
_EPS = np.finfo(np.float64).eps


def resolve_classes(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any] | None) -> list[str]:
    """The class list: ``classes`` canonicalised (unknown labels are an error), or the sorted
    union of the labels and predictions."""
    if classes is None:
        return sorted(set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist()))
    known = class_labels(np.asarray(list(classes), dtype=object), "classes").tolist()
    if len(set(known)) != len(known):
        raise PerformanceInputError(f"classes repeat: {known}")
    for what, values in (("labels", y_true), ("predictions", y_pred)):
        unknown = sorted(set(np.unique(values).tolist()) - set(known))
        if unknown:
            raise PerformanceInputError(f"{what} hold classes not in {known}: {unknown[:10]}")
    return known


def binary_positive(classes: Sequence[str], positive: Any = None) -> str:
    """The positive class of a binary problem: ``positive`` if given, else the last of the
    two in sorted order (scikit-learn's ``pos_label=1`` for 0/1, ``classes_[1]``)."""
    if positive is None:
        return sorted(classes)[-1]
    key = str(class_labels(np.asarray([positive], dtype=object), "positive class")[0])
    if key not in classes:
        raise PerformanceInputError(f"positive class {key!r} is not one of {list(classes)}")
    return key


def weighted_auc(score: np.ndarray, positive_w: np.ndarray, negative_w: np.ndarray) -> float | None:
    """Area under the ROC curve of ``score`` for rows that are positive with weight
    ``positive_w`` and negative with weight ``negative_w`` (fractional weights allowed, which
    is how estimation reuses it): P(score_pos > score_neg) + half the ties. None when either
    side has no weight."""
    total_pos, total_neg = positive_w.sum(), negative_w.sum()
    if total_pos <= 0 or total_neg <= 0:
        return None
    distinct, group = np.unique(score, return_inverse=True)
    pos = np.bincount(group, weights=positive_w, minlength=distinct.size)
    neg = np.bincount(group, weights=negative_w, minlength=distinct.size)
    below = np.cumsum(neg) - neg
    return float(np.dot(pos, below + 0.5 * neg) / (total_pos * total_neg))


def macro_auc(scores: np.ndarray, positive_w: np.ndarray, negative_w: np.ndarray) -> float | None:
    """Mean one-vs-rest AUC over the (n, k) columns that define one; None with fewer than two."""
    aucs = [weighted_auc(scores[:, j], positive_w[:, j], negative_w[:, j]) for j in range(scores.shape[1])]
    defined = [a for a in aucs if a is not None]
    return float(np.mean(defined)) if len(defined) >= 2 else None


def _confusion(t: np.ndarray, p: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(t * k + p, weights=w, minlength=k * k).reshape(k, k)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def calibration_error(
    prob: np.ndarray, hit: np.ndarray, w: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """Expected calibration error of probabilities ``prob`` for events ``hit`` (bool)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], prob, side="left")
    mass = np.bincount(which, weights=w, minlength=bins)
    observed = np.bincount(which, weights=w * hit, minlength=bins)
    predicted = np.bincount(which, weights=w * prob, minlength=bins)
    return float(np.abs(observed - predicted).sum() / mass.sum())


def count_metrics(
    hits: np.ndarray, true_count: np.ndarray, pred_count: np.ndarray, present: np.ndarray, pos: int | None
) -> dict[str, float]:
    """Precision, recall and F1 from per-class (weighted or expected) counts: macro over the
    ``present`` classes (a 0/0 term counting 0), and ``precision``/``recall``/``f1`` of class
    ``pos`` (binary; each left out when its denominator is 0) or the macro values."""
    out = {
        "precision_macro": float(_ratio(hits, pred_count)[present].mean()),
        "recall_macro": float(_ratio(hits, true_count)[present].mean()),
        "f1_macro": float(_ratio(2 * hits, true_count + pred_count)[present].mean()),
    }
    if pos is None:
        out.update(precision=out["precision_macro"], recall=out["recall_macro"], f1=out["f1_macro"])
        return out
    if pred_count[pos] > 0:
        out["precision"] = float(hits[pos] / pred_count[pos])
    if true_count[pos] > 0:
        out["recall"] = float(hits[pos] / true_count[pos])
    if true_count[pos] + pred_count[pos] > 0:
        out["f1"] = float(2 * hits[pos] / (true_count[pos] + pred_count[pos]))
    return out


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    weights: Any = None,
    positive: Any = None,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (binary: of ``positive``; else macro), their macro
    forms, and with ``proba`` ((n, k), columns in ``classes`` order) ROC AUC, log loss and
    calibration error. ``weights``: one per row (``1/sample_rate``). Empty input gives {}."""
    t_labels = class_labels(y_true, "labels")
    p_labels = class_labels(y_pred, "predictions")
    n = t_labels.size
    if p_labels.size != n:
        raise PerformanceInputError(f"{n} labels but {p_labels.size} predictions")
    if proba is not None and classes is None:
        raise PerformanceInputError("proba needs classes (the order of its columns)")
    names = resolve_classes(t_labels, p_labels, classes)
    w = checked_weights(weights, n)
    p = checked_proba(proba, n, len(names)) if proba is not None else None
    if n == 0 or w.sum() <= 0:
        return {}
    k = len(names)
    index = {c: i for i, c in enumerate(names)}
    order = np.asarray(names, dtype=str)
    sorter = np.argsort(order)
    t = sorter[np.searchsorted(order, t_labels, sorter=sorter)]
    q = sorter[np.searchsorted(order, p_labels, sorter=sorter)]
    matrix = _confusion(t, q, w, k)
    true_count, pred_count, hits = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    out: dict[str, float] = {"accuracy": float(hits.sum() / matrix.sum())}
    present = (true_count > 0) | (pred_count > 0)
    pos = index[binary_positive(names, positive)] if k == 2 else None
    out.update(count_metrics(hits, true_count, pred_count, present, pos))
    if p is not None:
        out.update(
            _probability_metrics(t, p, w, k, index[binary_positive(names, positive)] if k == 2 else None)
        )
    return out


def _probability_metrics(
    t: np.ndarray, p: np.ndarray, w: np.ndarray, k: int, pos: int | None
) -> dict[str, float]:
    out: dict[str, float] = {}
    truth = t[:, None] == np.arange(k)[None, :]
    if pos is not None:
        auc = weighted_auc(p[:, pos], w * truth[:, pos], w * ~truth[:, pos])
        if auc is not None:
            out["roc_auc"] = auc
        out["calibration_error"] = calibration_error(p[:, pos], truth[:, pos], w)
    else:
        auc = macro_auc(p, w[:, None] * truth, w[:, None] * ~truth)
        if auc is not None:
            out["roc_auc"] = auc
        top = p.argmax(axis=1)
        out["calibration_error"] = calibration_error(p[np.arange(t.size), top], top == t, w)
    chosen = np.clip(p[np.arange(t.size), t], _EPS, 1 - _EPS)
    out["log_loss"] = float(-np.dot(w, np.log(chosen)) / w.sum())
    return out


def regression_metrics(y_true: Any, y_pred: Any, weights: Any = None) -> dict[str, float]:
    """MAE, RMSE, R² and MAPE (as a fraction, like scikit-learn; rows with label 0 left out)."""
    t = _numbers(y_true, "labels")
    p = _numbers(y_pred, "predictions")
    if p.size != t.size:
        raise PerformanceInputError(f"{t.size} labels but {p.size} predictions")
    w = checked_weights(weights, t.size)
    total = w.sum()
    if t.size == 0 or total <= 0:
        return {}
    error = t - p
    out = {
        "mae": float(np.dot(w, np.abs(error)) / total),
        "rmse": float(np.sqrt(np.dot(w, error**2) / total)),
    }
    mean = np.dot(w, t) / total
    spread = np.dot(w, (t - mean) ** 2)
    if t.size >= 2 and spread > 0:
        out["r2"] = float(1.0 - np.dot(w, error**2) / spread)
    nonzero = t != 0
    if (w * nonzero).sum() > 0:
        out["mape"] = float(np.dot(w[nonzero], np.abs(error[nonzero] / t[nonzero])) / w[nonzero].sum())
    return out


def _numbers(values: Any, what: str) -> np.ndarray:
    x = float_array(values, f"regression {what}")
    if x.ndim != 1:
        raise PerformanceInputError(f"{what} must be one-dimensional, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise PerformanceInputError(f"{int((~np.isfinite(x)).sum())} of {x.size} {what} are NaN or infinite")
    return x
