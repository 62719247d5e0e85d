"""Per-segment performance and fairness: metrics per value of a low-cardinality attribute
(a region, a plan, a protected attribute), selection rates, and disparities between groups.

Cardinality is capped (``MAX_GROUPS`` per attribute by default): the first groups seen are
kept, every later one is counted as ``_other``, a missing value as ``_missing``, so a
mistakenly configured high-cardinality attribute (a user id) costs O(cap) series, not O(users).

Disparities (binary classifiers; each over the groups with at least ``min_rows`` rows, so a
group of three rows does not decide the ratio):

- ``selection_rate_ratio``: min / max over groups of the share predicted positive
  (disparate impact; the "four-fifths rule" flags < 0.8). Needs no labels.
- ``selection_rate_difference``: max - min of the same (demographic parity difference).
- ``tpr_difference``: max - min true-positive rate (recall) over groups with positive labels
  (equal opportunity difference).
- ``fpr_difference``: max - min false-positive rate over groups with negative labels
  (with ``tpr_difference``: equalized odds).
- ``accuracy_difference``: max - min accuracy (also multiclass).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from modeltel.performance.labels import PerformanceInputError, checked_weights, class_labels
from modeltel.performance.realized import binary_positive, classification_metrics, regression_metrics

MAX_GROUPS = 20
OTHER = "_other"
MISSING = "_missing"
MIN_GROUP_ROWS = 30
"""Rows a group needs to take part in a disparity (its rates' standard error is then < 0.1)."""


class SegmentCap:
    """Assigns raw attribute values to at most ``max_groups`` named groups, first come first
    kept (stable across windows, so a series never changes meaning), the rest to ``_other``."""

    def __init__(self, max_groups: int = MAX_GROUPS, known: Iterable[str] = ()) -> None:
        if max_groups < 1:
            raise ValueError("max_groups must be at least 1")
        self.max_groups = max_groups
        self.groups: list[str] = []
        self._index: set[str] = set()
        for group in known:
            self._admit(group)

    def _admit(self, group: str) -> None:
        if group not in self._index and len(self.groups) < self.max_groups:
            self.groups.append(group)
            self._index.add(group)

    def assign(self, values: Any) -> np.ndarray:
        """The group (str) of each value; new values are admitted in order of first appearance."""
        keys = _group_keys(values)
        distinct, first = np.unique(keys, return_index=True)
        for group in distinct[np.argsort(first)].tolist():
            if group != MISSING:
                self._admit(group)
        kept = np.isin(keys, np.asarray(self.groups, dtype=str)) | (keys == MISSING)
        return np.where(kept, keys, OTHER)


def _group_keys(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.dtype.kind == "U":
        return array
    if array.dtype.kind == "f":
        out = np.full(array.shape, MISSING, dtype=object)
        present = ~np.isnan(array)
        if present.any():
            out[present] = class_labels(array[present], "segment values")
        return out.astype(str)
    seq = array.tolist()
    if set(map(type, seq)) == {str}:  # the wire's attribute values: already group names
        return np.asarray(seq, dtype=str)
    present = [v is not None and v == v for v in seq]
    out = np.full(len(seq), MISSING, dtype=object)
    if any(present):
        index = np.flatnonzero(present)
        out[index] = class_labels(np.asarray([seq[i] for i in index], dtype=object), "segment values")
    return out.astype(str)


def segment_metrics(
    groups: Any, y_true: Any, y_pred: Any, proba: Any = None, *, task: str = "classification",
    classes: Sequence[Any] | None = None, positive: Any = None, weights: Any = None,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Metrics per group (``classification_metrics`` / ``regression_metrics`` on the group's
    rows) plus ``rows`` (weighted) and, for binary classifiers, ``selection_rate``, ``tpr``
    and ``fpr``. ``groups``: one group per row, e.g. from ``SegmentCap.assign``."""
    g = np.asarray(groups, dtype=str)
    n = g.size
    w = checked_weights(weights, n)
    if task == "regression":
        t, p = np.asarray(y_true), np.asarray(y_pred)
        return {
            group: {"rows": float(w[rows].sum()), **regression_metrics(t[rows], p[rows], w[rows])}
            for group, rows in _rows_by_group(g)
        }
    t = class_labels(y_true, "labels")
    q = class_labels(y_pred, "predictions")
    if t.size != n or q.size != n:
        raise PerformanceInputError(f"{n} group values but {t.size} labels and {q.size} predictions")
    names = (
        [str(c) for c in class_labels(np.asarray(list(classes), dtype=object), "classes")]
        if classes
        else None
    )
    names = names or sorted(set(t.tolist()) | set(q.tolist()))
    pr = None if proba is None else np.asarray(proba, dtype=np.float64)
    pos = binary_positive(names, positive) if len(names) == 2 else None
    out = {}
    for group, rows in _rows_by_group(g):
        metrics = classification_metrics(
            t[rows], q[rows], None if pr is None else pr[rows], classes=names, weights=w[rows], positive=pos
        )
        metrics["rows"] = float(w[rows].sum())
        if pos is not None:
            metrics.update(_binary_rates(t[rows] == pos, q[rows] == pos, w[rows]))
        out[group] = metrics
    return out


def _rows_by_group(g: np.ndarray) -> list[tuple[str, np.ndarray]]:
    distinct, inverse = np.unique(g, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(distinct.size + 1))
    return [(str(distinct[i]), order[bounds[i] : bounds[i + 1]]) for i in range(distinct.size)]


def _binary_rates(actual: np.ndarray, chosen: np.ndarray, w: np.ndarray) -> dict[str, float]:
    out = {"selection_rate": float(np.dot(w, chosen) / w.sum())} if w.sum() > 0 else {}
    positives, negatives = np.dot(w, actual), np.dot(w, ~actual)
    if positives > 0:
        out["tpr"] = float(np.dot(w, actual & chosen) / positives)
    if negatives > 0:
        out["fpr"] = float(np.dot(w, ~actual & chosen) / negatives)
    return out


def selection_rates(groups: Any, y_pred: Any, positive: Any, weights: Any = None) -> dict[str, float]:
    """Share of each group's (weighted) predictions that are ``positive``: needs no labels,
    so it is available for every prediction, long before labels arrive."""
    g = np.asarray(groups, dtype=str)
    chosen = class_labels(y_pred, "predictions") == class_labels(np.asarray([positive], dtype=object))[0]
    w = checked_weights(weights, g.size)
    distinct, inverse = np.unique(g, return_inverse=True)
    total = np.bincount(inverse, weights=w, minlength=distinct.size)
    hits = np.bincount(inverse, weights=w * chosen, minlength=distinct.size)
    return {str(d): float(h / t) for d, h, t in zip(distinct, hits, total, strict=True) if t > 0}


def disparity(per_group: dict[str, dict[str, float]], min_rows: float = MIN_GROUP_ROWS) -> dict[str, float]:
    """Disparities between groups (module docstring) from ``segment_metrics`` output (or any
    ``{group: {"rows": .., "selection_rate": .., ...}}``). ``_other`` and ``_missing`` take
    part like any group. A disparity needs two groups with the rate; otherwise it is left out."""
    eligible = [m for m in per_group.values() if m.get("rows", 0.0) >= min_rows]
    out: dict[str, float] = {}
    for rate, name in (("selection_rate", "selection_rate"), ("tpr", "tpr"), ("fpr", "fpr"),
                       ("accuracy", "accuracy")):  # fmt: skip
        values = [m[rate] for m in eligible if rate in m]
        if len(values) < 2:
            continue
        out[f"{name}_difference"] = float(max(values) - min(values))
        if rate == "selection_rate" and max(values) > 0:
            out["selection_rate_ratio"] = float(min(values) / max(values))
    return out
