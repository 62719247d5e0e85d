"""Label-free performance estimation (confidence-based, in the spirit of NannyML's CBPE).

The model's probabilities, calibrated on the labelled reference, are read as the chance each
row's label is each class. The expected confusion matrix of a window follows without labels:

    E[TP_k] = sum_i w_i c_ik [pred_i = k]     E[FP_k] = sum_i w_i (1 - c_ik) [pred_i = k]
    E[FN_k] = sum_i w_i c_ik [pred_i != k]

and accuracy, precision, recall and F1 are the metric of the expected counts (binary: of the
positive class; multiclass: macro over the classes predicted or expected in the window).
Expected ROC AUC ranks rows by the raw score and counts each row as positive with weight
``w c`` and negative with weight ``w (1 - c)`` (tie-aware trapezoid, as for realized AUC).

**Assumption:** no concept drift: P(y | x) is what it was on the reference, so only the
inputs may have moved (covariate shift). Under it the estimate tracks realized performance
through shifts that move rows into regions where the model is less sure. A gap between
estimated and realized (outside the band) therefore means P(y | x) changed (concept drift)
or the calibration does not transfer (e.g. a region the reference barely covered).

**Bands:** the sampling error of the *realized* metric around the estimate, given this
window's rows: labels are drawn ``draws`` times from the calibrated probabilities (a
parametric bootstrap, seeded, so one window always gets one band), each draw's realized
metric is computed with the same weights and predictions, and the band is the draws' central
``level`` quantiles (widened to hold the estimate, which is the metric of the expected counts,
not the mean of the draws' metrics). Windows larger than ``max_band_rows`` are simulated on a
seeded subsample and the band is the estimate plus the subsample's quantiles minus their mean,
scaled by sqrt(n_eff(subsample) / n_eff(window)) (Kish effective sizes). The band covers sampling error
only, not the calibration map's own error on a finite reference (small at thousands of
reference rows; measured in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modeltel.performance.baseline import PerformanceProfile, performance_of
from modeltel.performance.calibration import CalibrationMap
from modeltel.performance.labels import (
    PerformanceInputError,
    checked_proba,
    checked_weights,
    class_labels,
    float_array,
)
from modeltel.performance.realized import count_metrics, macro_auc, weighted_auc

ESTIMATED = ("accuracy", "precision", "recall", "f1", "roc_auc")


@dataclass(frozen=True)
class Estimate:
    value: float
    lower: float
    upper: float

    def covers(self, realized: float) -> bool:
        return self.lower <= realized <= self.upper


class PerformanceEstimator:
    """Estimates a classifier's metrics on unlabelled windows from its reference calibration."""

    def __init__(
        self,
        classes: list[str],
        calibration: dict[str, CalibrationMap],
        positive: str | None = None,
        *,
        calibration_other: dict[str, CalibrationMap] | None = None,
        level: float = 0.95,
        draws: int = 300,
        max_band_rows: int = 5_000,
        seed: int = 0,
    ) -> None:
        if len(classes) < 2:
            raise ValueError("estimation needs at least two classes")
        if len(classes) == 2 and positive not in classes:
            raise ValueError(f"binary estimation needs the positive class, one of {classes}")
        if not 0 < level < 1:
            raise ValueError("level must be in (0, 1)")
        self.classes = list(classes)
        self.positive = positive if len(classes) == 2 else None
        self.calibration = calibration
        self.calibration_other = calibration_other or calibration
        self.level, self.draws, self.max_band_rows, self.seed = level, draws, max_band_rows, seed
        needed = [positive] if self.positive is not None else self.classes
        missing = [c for c in needed if c not in calibration]
        if missing:
            raise ValueError(f"no calibration map for classes {missing}")

    @classmethod
    def from_profile(cls, profile: Any, **options: Any) -> PerformanceEstimator | None:
        """The estimator of a profile (or its performance section); None without a labelled
        classifier reference with probabilities."""
        section = profile if isinstance(profile, PerformanceProfile) else performance_of(profile)
        if section is None or not section.estimable or section.calibration is None:
            return None
        options.setdefault("calibration_other", section.calibration_other)
        return cls(section.classes, section.calibration, section.positive, **options)

    # -- calibration ----------------------------------------------------------------------
    def calibrate(self, proba: np.ndarray, predicted: np.ndarray | None = None) -> np.ndarray:
        """Calibrated (n, k) chances of each class. Binary: the positive class's map (and its
        complement). Multiclass: per class the map of rows predicted as it, or of the others
        (``predicted``: class indices, default the argmax); rows need not sum to 1, each
        column being its own estimate."""
        if self.positive is not None:
            pos = self.classes.index(self.positive)
            c = self.calibration[self.positive].apply(proba[:, pos])
            out = np.empty_like(proba)
            out[:, pos], out[:, 1 - pos] = c, 1.0 - c
            return out
        if predicted is None:
            predicted = proba.argmax(axis=1)
        columns = []
        for j, c in enumerate(self.classes):
            chosen = self.calibration[c].apply(proba[:, j])
            columns.append(np.where(predicted == j, chosen, self.calibration_other[c].apply(proba[:, j])))
        return np.column_stack(columns)

    # -- estimation -----------------------------------------------------------------------
    def estimate(self, proba: Any, weights: Any = None, y_pred: Any = None) -> dict[str, Estimate]:
        """Expected accuracy, precision, recall, F1 and ROC AUC with sampling bands.

        ``proba``: (n, k) raw model probabilities in ``classes`` order (binary: may be the
        positive class's column alone). ``y_pred``: the predicted labels; absent, the argmax of
        ``proba``. A metric the window cannot define (no predicted positives, one class) is
        left out; an empty window gives {}."""
        raw = float_array(proba, "proba")
        if raw.ndim == 1 and self.positive is not None:
            pos = self.classes.index(self.positive)
            raw = np.column_stack([1.0 - raw, raw]) if pos == 1 else np.column_stack([raw, 1.0 - raw])
        n = raw.shape[0] if raw.ndim == 2 else 0
        raw = checked_proba(raw, n, len(self.classes))
        w = checked_weights(weights, n)
        predicted = self._predicted(raw, y_pred, n)
        if n == 0 or w.sum() <= 0:
            return {}
        calibrated = self.calibrate(raw, predicted)
        values = _expected(raw, calibrated, predicted, w, self._pos())
        bands = self._bands(raw, calibrated, predicted, w, values)
        return {name: bands[name] for name in ESTIMATED if name in bands}

    def _pos(self) -> int | None:
        return None if self.positive is None else self.classes.index(self.positive)

    def _predicted(self, raw: np.ndarray, y_pred: Any, n: int) -> np.ndarray:
        if y_pred is None:
            return raw.argmax(axis=1)
        labels = class_labels(y_pred, "predictions")
        if labels.size != n:
            raise PerformanceInputError(f"{n} probability rows but {labels.size} predictions")
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(np.unique(labels).tolist()) - set(index))
        if unknown:
            raise PerformanceInputError(f"predictions hold classes not in {self.classes}: {unknown[:10]}")
        order = np.asarray(self.classes, dtype=str)
        sorter = np.argsort(order)
        return sorter[np.searchsorted(order, labels, sorter=sorter)]

    def _bands(
        self, raw: np.ndarray, calibrated: np.ndarray, predicted: np.ndarray, w: np.ndarray, values: dict
    ) -> dict[str, Estimate]:
        rng = np.random.default_rng(self.seed)
        n = raw.shape[0]
        scale = 1.0
        if n > self.max_band_rows:
            rows = np.sort(rng.choice(n, self.max_band_rows, replace=False))
            scale = np.sqrt(_kish(w[rows]) / _kish(w))
            raw, calibrated, predicted, w = raw[rows], calibrated[rows], predicted[rows], w[rows]
        # Labels are drawn from each row's calibrated chances, normalised to one distribution.
        total = calibrated.sum(axis=1, keepdims=True)
        share = np.divide(
            calibrated, total, out=np.full_like(calibrated, 1 / calibrated.shape[1]), where=total > 0
        )
        drawn = _draw_classes(np.cumsum(share, axis=1), rng.random((self.draws, raw.shape[0])))
        simulated = _realized_draws(raw, drawn, predicted, w, len(self.classes), self._pos())
        tail = (1 - self.level) / 2
        out = {}
        for name, value in values.items():
            sims = simulated.get(name)
            if sims is None or np.isnan(sims).all():
                out[name] = Estimate(value, value, value)
                continue
            sims = sims[~np.isnan(sims)]
            low, high = np.quantile(sims, [tail, 1 - tail])
            if scale != 1.0:  # simulated on a subsample: its spread, shrunk to the window's n
                low, high = value + scale * (low - sims.mean()), value + scale * (high - sims.mean())
            out[name] = Estimate(value, float(max(min(low, value), 0.0)), float(min(max(high, value), 1.0)))
        return out


def estimation_gap(estimates: dict[str, Estimate], realized: dict[str, float]) -> dict[str, float]:
    """Realized minus estimated for each metric both have, once a window's labels are in.

    Negative: the model did worse than its inputs explain (concept drift, or calibration that
    does not transfer); compare with the band (``Estimate.covers``) to tell noise from signal."""
    return {name: realized[name] - e.value for name, e in estimates.items() if name in realized}


def _draw_classes(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(draws, n) class indices by inverse CDF: class j where cum[j-1] <= u < cum[j]. One
    searchsorted over all rows' CDFs laid end to end (row i shifted by 2i, so the flat array
    stays sorted): O(draws n log(n k)) time and O(draws n) memory, whatever the classes."""
    n, k = cumulative.shape
    shift = 2.0 * np.arange(n)
    flat = (cumulative[:, :-1] + shift[:, None]).ravel()
    found = np.searchsorted(flat, u + shift[None, :], side="right")
    return found - (k - 1) * np.arange(n)[None, :]


def _kish(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / max(np.dot(w, w), 1e-300))


def _expected(
    raw: np.ndarray, c: np.ndarray, predicted: np.ndarray, w: np.ndarray, pos: int | None
) -> dict[str, float]:
    n, k = c.shape
    chosen = np.zeros((n, k), dtype=bool)
    chosen[np.arange(n), predicted] = True
    total = w.sum()
    tp = (w[:, None] * c * chosen).sum(axis=0)
    pred_count = (w[:, None] * chosen).sum(axis=0)
    true_count = (w[:, None] * c).sum(axis=0)
    # A multiclass class counts in the macro mean when it is predicted or more likely than not
    # to occur among the labels (realized macro metrics count the classes that do occur).
    absent = np.log1p(-np.clip(c, 0.0, 1.0 - 1e-12)).sum(axis=0)
    present = (pred_count > 0) | (absent < np.log(0.5))
    out = {"accuracy": float(tp.sum() / total), **count_metrics(tp, true_count, pred_count, present, pos)}
    if pos is not None:
        auc = weighted_auc(raw[:, pos], w * c[:, pos], w * (1 - c[:, pos]))
    else:
        auc = macro_auc(raw, w[:, None] * c, w[:, None] * (1 - c))
    if auc is not None:
        out["roc_auc"] = auc
    return out


def _realized_draws(
    raw: np.ndarray, drawn: np.ndarray, predicted: np.ndarray, w: np.ndarray, k: int, pos: int | None
) -> dict[str, np.ndarray]:
    """Realized metrics of each simulated label draw (rows of ``drawn``), NaN where undefined."""
    draws = drawn.shape[0]
    offset = (np.arange(draws) * k)[:, None]
    hit = drawn == predicted[None, :]
    tp = np.bincount((offset + predicted[None, :]).ravel(), weights=(hit * w).ravel(), minlength=draws * k)
    tp = tp.reshape(draws, k)
    true_count = np.bincount((offset + drawn).ravel(), weights=np.broadcast_to(w, drawn.shape).ravel(),
                             minlength=draws * k).reshape(draws, k)  # fmt: skip
    pred_count = np.bincount(predicted, weights=w, minlength=k)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / pred_count
        recall = tp / true_count
        f1 = 2 * tp / (true_count + pred_count)
    out = {"accuracy": tp.sum(axis=1) / w.sum()}
    if pos is not None:
        out.update(precision=precision[:, pos], recall=recall[:, pos], f1=f1[:, pos])
        out["roc_auc"] = _auc_draws(raw[:, pos], drawn == pos, w)
        return out
    present = (true_count > 0) | (pred_count > 0)
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[name] = np.where(present, np.nan_to_num(values), 0.0).sum(axis=1) / present.sum(axis=1)
    per_class = np.column_stack([_auc_draws(raw[:, j], drawn == j, w) for j in range(k)])
    defined = ~np.isnan(per_class)
    with np.errstate(invalid="ignore"):
        out["roc_auc"] = np.where(
            defined.sum(axis=1) >= 2, np.nansum(per_class, axis=1) / defined.sum(axis=1), np.nan
        )
    return out


def _auc_draws(score: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC AUC of ``score`` for each row of ``positive`` (draws, n), tie-aware, weighted."""
    distinct, group = np.unique(score, return_inverse=True)
    order = np.argsort(group, kind="stable")
    pos = positive[:, order] * w[order]
    neg = ~positive[:, order] * w[order]
    if distinct.size < score.size:  # ties: pool each score's rows first (half credit within)
        starts = np.searchsorted(group[order], np.arange(distinct.size))
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(divide="ignore", invalid="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))
