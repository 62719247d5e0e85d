"""The ``performance`` section of a profile, built from a labelled reference table.

Columns: the target (labels), the prediction column (predicted labels or regression values)
and, for classifiers, one probability column per class named ``<prefix><class>`` (default
``proba_<class>``, the drift processor's names for the body's ``probabilities``; a binary
reference may carry the positive class's column alone). Rows without a label are left out,
and so are rows with a missing prediction or probability (counted in ``rows``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modeltel.drift import columns as col
from modeltel.drift.binning import MAX_DISCRETE
from modeltel.drift.tables import TableColumn
from modeltel.performance.baseline import PerformanceProfile, Task
from modeltel.performance.calibration import CalibrationMap, fit_calibration
from modeltel.performance.labels import PerformanceInputError, class_labels, label_keys
from modeltel.performance.realized import binary_positive, classification_metrics, regression_metrics

BAND_CHUNKS = 20
"""Reference chunks the band constants are measured on (each at least MIN_CHUNK_ROWS rows)."""
MIN_CHUNK_ROWS = 30
MAX_CLASSES = 200
"""Classes a classifier's baseline may have (per-class maps and metrics stay small)."""


def infer_task(target: TableColumn, has_proba: bool) -> Task:
    """Classification for text, bools, probability columns, or at most MAX_DISCRETE integral
    numbers; regression for other numbers."""
    if has_proba or target.logical in ("string", "bool", "other"):
        return "classification"
    x, _ = col.numeric(target.values, parse_strings=True)
    x = x[np.isfinite(x)]
    integral = bool(np.all(x == np.round(x)))
    return "classification" if integral and np.unique(x).size <= MAX_DISCRETE else "regression"


def build_performance(
    table: dict[str, TableColumn],
    target: str,
    prediction: str | None = None,
    *,
    probability_prefix: str = "proba_",
    task: Task | None = None,
    positive: Any = None,
    seed: int = 0,
) -> PerformanceProfile:
    """Baseline metrics, calibration and band constants of the labelled rows of ``table``."""
    if target not in table:
        raise PerformanceInputError(f"no target column {target!r}")
    if prediction is not None and prediction not in table:
        raise PerformanceInputError(f"no prediction column {prediction!r}")
    proba_names = {n[len(probability_prefix) :]: n for n in table if n.startswith(probability_prefix)}
    task = task or infer_task(table[target], bool(proba_names))
    if task == "regression":
        return _regression(table, target, prediction, probability_prefix, seed)
    return _classification(table, target, prediction, probability_prefix, proba_names, positive, seed)


def _regression(
    table: dict, target: str, prediction: str | None, prefix: str, seed: int
) -> PerformanceProfile:
    if prediction is None:
        raise PerformanceInputError("a regression baseline needs a prediction column")
    y, _ = col.numeric(table[target].values, parse_strings=True)
    p, _ = col.numeric(table[prediction].values, parse_strings=True)
    keep = np.isfinite(y) & np.isfinite(p)
    if keep.sum() < 2:
        raise PerformanceInputError(f"fewer than 2 rows with both {target!r} and {prediction!r}")
    y, p = y[keep], p[keep]
    return PerformanceProfile(
        task="regression", target=target, prediction=prediction, probability_prefix=prefix,
        rows=float(y.size), baseline=regression_metrics(y, p),
        baseline_sd=_band_constants(lambda rows: regression_metrics(y[rows], p[rows]), y.size, seed),
    )  # fmt: skip


def _classification(
    table: dict, target: str, prediction: str | None, prefix: str, proba_names: dict, positive: Any, seed: int
) -> PerformanceProfile:
    y = label_keys(table[target].values)[0]  # "" where missing: masked, not refused
    keep = y != ""
    classes = set(np.unique(y[keep]).tolist())
    proba_keys = {}
    for raw_key, name in proba_names.items():
        key = class_labels(np.asarray([raw_key], dtype=object), "probability column")[0]
        proba_keys[str(key)] = name
    if len(proba_keys) > 1:
        classes |= set(proba_keys)
    ordered = sorted(classes)
    if len(ordered) > MAX_CLASSES:
        raise PerformanceInputError(
            f"target {target!r} has {len(ordered)} classes (at most {MAX_CLASSES}): a regression target?"
        )
    if len(ordered) < 2:
        raise PerformanceInputError(f"the labelled reference has one class only ({ordered})")
    pos = binary_positive(ordered, positive) if len(ordered) == 2 else None
    proba = _reference_proba(table, ordered, pos, proba_keys)
    q = None
    if prediction is not None:
        q = label_keys(table[prediction].values)[0]
        unknown = sorted(set(np.unique(q[q != ""]).tolist()) - classes)
        if unknown and pos is not None and proba is None and _is_probability(table[prediction]):
            # A binary classifier's prediction column of scores: the positive class's probability.
            proba = _reference_proba(table, ordered, pos, {pos: prediction})
            prediction, q = None, None
        elif unknown:
            raise PerformanceInputError(
                f"prediction column {prediction!r} holds values that are not classes {ordered}: {unknown[:5]}"
            )
        else:
            keep &= q != ""
    if proba is not None:
        keep &= np.isfinite(proba).all(axis=1)
    if q is None:
        if proba is None:
            raise PerformanceInputError("a classification baseline needs a prediction or probability columns")
        q = np.asarray(ordered, dtype=str)[np.nan_to_num(proba).argmax(axis=1)]
    if not keep.any():
        raise PerformanceInputError("no reference row has a label, a prediction and probabilities")
    y, q = y[keep], q[keep]
    proba = None if proba is None else np.clip(proba[keep], 0.0, 1.0)

    def metrics(rows: np.ndarray) -> dict[str, float]:
        return classification_metrics(
            y[rows], q[rows], None if proba is None else proba[rows], classes=ordered, positive=pos
        )

    return PerformanceProfile(
        task="classification", target=target, prediction=prediction, probability_prefix=prefix,
        classes=ordered, positive=pos, rows=float(y.size), baseline=metrics(np.arange(y.size)),
        baseline_sd=_band_constants(metrics, y.size, seed),
        **({} if proba is None else _calibrations(y, q, proba, ordered, pos)),
    )  # fmt: skip


def _is_probability(column: TableColumn) -> bool:
    x, _ = col.numeric(column.values, parse_strings=True)
    x = x[np.isfinite(x)]
    return x.size > 0 and bool(((x >= 0) & (x <= 1)).all())


def _reference_proba(table: dict, classes: list[str], pos: str | None, names: dict) -> np.ndarray | None:
    """(n, k) reference probabilities in class order; None without probability columns."""
    if not names:
        return None
    if pos is not None and set(names) == {pos}:
        p, _ = col.numeric(table[names[pos]].values, parse_strings=True)
        return np.column_stack([1 - p, p]) if classes.index(pos) == 1 else np.column_stack([p, 1 - p])
    missing = [c for c in classes if c not in names]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise PerformanceInputError(
            f"no probability column for classes {missing[:10]}{more} (have {sorted(names.values())[:10]})"
        )
    return np.column_stack([col.numeric(table[names[c]].values, parse_strings=True)[0] for c in classes])


def _calibrations(
    y: np.ndarray, q: np.ndarray, proba: np.ndarray, classes: list[str], pos: str | None
) -> dict[str, dict[str, CalibrationMap]]:
    """Binary: one map of the positive class's probability. Multiclass: per class one map on
    the rows predicted as it and one on the others, because being the predicted class says
    more than the class's probability alone (OvR maps renormalised measured 3 points too low
    an accuracy on an underconfident digits model; split maps are unbiased for the expected
    confusion matrix). A side with no rows falls back to the map of all rows."""
    ones = np.ones(y.size)
    if pos is not None:
        column = classes.index(pos)
        return {"calibration": {pos: fit_calibration(proba[:, column], y == pos, ones)}}
    chosen, other = {}, {}
    for j, c in enumerate(classes):
        everything = None
        for maps, rows in ((chosen, q == c), (other, q != c)):
            if rows.any():
                maps[c] = fit_calibration(proba[rows, j], y[rows] == c, ones[rows])
            else:
                everything = everything or fit_calibration(proba[:, j], y == c, ones)
                maps[c] = everything
    return {"calibration": chosen, "calibration_other": other}


def _band_constants(metrics: Any, n: int, seed: int) -> dict[str, float]:
    """Standard deviation of each metric over random reference chunks, times sqrt(chunk rows):
    the metric's standard error at n rows is then constant / sqrt(n). Empty when the reference
    is too small for BAND_CHUNKS chunks of MIN_CHUNK_ROWS."""
    chunks = min(BAND_CHUNKS, n // MIN_CHUNK_ROWS)
    if chunks < 2:
        return {}
    order = np.random.default_rng(seed).permutation(n)
    size = n // chunks
    values: dict[str, list[float]] = {}
    for j in range(chunks):
        for name, value in metrics(order[j * size : (j + 1) * size]).items():
            values.setdefault(name, []).append(value)
    return {name: float(np.std(v, ddof=1) * np.sqrt(size)) for name, v in values.items() if len(v) == chunks}
