"""One stream's performance from its stored rows: realized, estimated, coverage, segments.

Runs in a worker thread on its own SQLite connection (a consistent WAL snapshot), so intake
never waits for it. The numbers come from the engine (``modeltel.performance``); this module
only turns stored rows into the engine's arrays, once per stream for the longest window, and
masks them for the shorter ones.

Windows are trailing horizons by prediction time ending at the stream's newest prediction
(not the wall clock, so a replayed backfill is evaluated like live traffic).
"""

import math
import sqlite3
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from modeltel.collector.processors.performance.probabilities import probability_matrix
from modeltel.collector.processors.performance.store import StoredRows, read_rows
from modeltel.drift import Profile
from modeltel.drift.columns import category_key
from modeltel.performance.baseline import PerformanceProfile
from modeltel.performance.estimation import Estimate, PerformanceEstimator, estimation_gap
from modeltel.performance.realized import binary_positive, classification_metrics, regression_metrics
from modeltel.performance.segments import MISSING, disparity, segment_metrics, selection_rates

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class StreamContext:
    """What evaluation needs of one stream, copied from the intake side at evaluation time."""

    stream_id: int
    model: str
    version: str
    classes: tuple[str, ...]
    segment_values: dict[int, dict[str, str]]
    segment_by: tuple[str, ...]
    profile: Profile | None
    estimator: PerformanceEstimator | None
    point_estimator: PerformanceEstimator | None = None
    """The same calibration with a minimal band simulation: the gap needs only the point estimate."""


@dataclass
class WindowPerformance:
    window: str
    start: float  # Unix s, prediction time
    end: float
    predictions: int
    labelled: int
    coverage: float | None  # weighted labelled / weighted predictions
    realized: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, Estimate] = field(default_factory=dict)
    gap: dict[str, float] = field(default_factory=dict)  # realized - estimated, on the labelled rows
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_class: int = 0  # labelled rows left out: label or prediction not among the classes

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "start": self.start,
            "end": self.end,
            "predictions": self.predictions,
            "labelled": self.labelled,
            "coverage": self.coverage,
            "realized": self.realized,
            "estimated": {
                name: {"value": e.value, "lower": e.lower, "upper": e.upper}
                for name, e in self.estimated.items()
            },
            "gap": self.gap,
            "unknown_class": self.unknown_class,
            "segments": self.segments,
        }


@dataclass
class StreamPerformance:
    model: str
    version: str
    task: Task | None
    classes: list[str]
    windows: list[WindowPerformance]
    baseline: dict[str, float]
    evaluated_at: float = field(default_factory=time.time)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "task": self.task,
            "classes": self.classes,
            "baseline": self.baseline,
            "evaluated_at": self.evaluated_at,
            "evaluation_seconds": self.seconds,
            "windows": [w.to_dict() for w in self.windows],
        }


def profile_performance(profile: Profile | None) -> PerformanceProfile | None:
    return profile.performance if profile is not None else None


def decide_task(profile: Profile | None, predicted: list[Any], has_probabilities: bool) -> Task | None:
    """The profile's task when it has one; else classification when there are probabilities
    or the predictions are text or integers, regression when they are floats."""
    reference = profile_performance(profile)
    if reference is not None:
        return reference.task
    if has_probabilities:
        return "classification"
    kinds = {type(value) for value in predicted if value is not None}
    if not kinds:
        return None
    return "regression" if float in kinds else "classification"


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {
        name: float(value) for name, value in values.items() if value is not None and math.isfinite(value)
    }


def class_keys(values: list[Any]) -> np.ndarray:
    """The class text of each stored value ("" for none), computed once per distinct value.

    Booleans are stored as text, so the ints and floats that hash alike (1 and 1.0) share a key."""
    keys = {value: "" if value is None else category_key(value) for value in set(values)}
    return np.asarray([keys[value] for value in values], dtype=str)


class Columns:
    """A stream's rows as the engine's arrays."""

    def __init__(self, rows: StoredRows, context: StreamContext, classes: list[str]) -> None:
        self.times_ms = np.asarray(rows.times_ms, dtype=np.int64)
        self.weights = np.asarray([1.0 if w is None else w for w in rows.weights], dtype=np.float64)
        self.labelled = np.fromiter(
            (label is not None for label in rows.labels), dtype=bool, count=len(rows.labels)
        )
        self.predicted = rows.predicted
        self.predicted_keys = class_keys(rows.predicted)
        self.label_keys = class_keys(rows.labels)
        self.has_prediction = np.fromiter(
            (p is not None for p in rows.predicted), dtype=bool, count=len(rows.predicted)
        )
        self.labels = rows.labels
        self.segments = rows.segments
        stored = probability_matrix(rows.proba, len(context.classes))
        self.has_proba = stored[1]
        # reorder the stored columns (the stream's order of arrival) into ``classes``
        position = {name: index for index, name in enumerate(context.classes)}
        matrix = np.zeros((len(rows.times_ms), len(classes)), dtype=np.float64)
        for column, name in enumerate(classes):
            if name in position:
                matrix[:, column] = stored[0][:, position[name]]
        self.proba = matrix


def _classification(
    columns: Columns, mask: np.ndarray, classes: list[str], positive: str | None
) -> tuple[dict[str, float], int]:
    """Realized metrics of the labelled rows in ``mask``, and how many were left out because
    their label or prediction is not one of ``classes``."""
    rows = mask & columns.labelled & columns.has_prediction
    if not rows.any():
        return {}, 0
    positions = np.flatnonzero(rows)
    y_true, y_pred = columns.label_keys[positions], columns.predicted_keys[positions]
    if classes:  # a label or prediction outside the model's classes cannot be scored with its proba
        known = np.isin(y_true, classes) & np.isin(y_pred, classes)
        unknown = int((~known).sum())
        positions, y_true, y_pred = positions[known], y_true[known], y_pred[known]
        if not len(positions):
            return {}, unknown
    else:
        unknown = 0
    with_proba = bool(classes) and bool(columns.has_proba[positions].all())
    metrics = classification_metrics(
        y_true,
        y_pred,
        proba=columns.proba[positions] if with_proba else None,
        classes=classes or None,
        weights=columns.weights[positions],
        positive=positive,
    )
    return _finite(metrics), unknown


def _regression(columns: Columns, mask: np.ndarray) -> dict[str, float]:
    positions = [
        i
        for i in np.flatnonzero(mask & columns.labelled).tolist()
        if isinstance(columns.labels[i], int | float) and isinstance(columns.predicted[i], int | float)
    ]
    if not positions:
        return {}
    y_true = np.asarray([columns.labels[i] for i in positions], dtype=np.float64)
    y_pred = np.asarray([columns.predicted[i] for i in positions], dtype=np.float64)
    return _finite(regression_metrics(y_true, y_pred, weights=columns.weights[positions]))


def _estimate(
    estimator: PerformanceEstimator | None, columns: Columns, rows: np.ndarray
) -> dict[str, Estimate]:
    rows = rows & columns.has_proba
    if estimator is None or not rows.any():
        return {}
    # the model's own predictions when every row has one, else the argmax
    y_pred = columns.predicted_keys[rows] if columns.has_prediction[rows].all() else None
    estimates = estimator.estimate(columns.proba[rows], weights=columns.weights[rows], y_pred=y_pred)
    return {
        name: estimate
        for name, estimate in estimates.items()
        if all(math.isfinite(v) for v in (estimate.value, estimate.lower, estimate.upper))
    }


def evaluate_stream(
    connection: sqlite3.Connection, context: StreamContext, windows: list[tuple[str, float]]
) -> StreamPerformance:
    started = time.perf_counter()
    reference = profile_performance(context.profile)
    baseline = _finite(dict(reference.baseline)) if reference is not None else {}
    (newest,) = connection.execute(
        "SELECT MAX(time) FROM predictions WHERE stream = ?", (context.stream_id,)
    ).fetchone()
    if newest is None:
        return StreamPerformance(context.model, context.version, None, list(context.classes), [], baseline)
    longest = max(seconds for _, seconds in windows)
    rows = read_rows(connection, context.stream_id, newest - round(longest * 1000))
    classes = (
        list(reference.classes) if reference is not None and reference.classes else list(context.classes)
    )
    columns = Columns(rows, context, classes)
    task = decide_task(context.profile, rows.predicted, bool(columns.has_proba.any()))
    positive = reference.positive if reference is not None else None
    results: list[WindowPerformance] = []
    for label, seconds in windows:
        start_ms = newest - round(seconds * 1000)
        mask = columns.times_ms >= start_ms
        total = float(columns.weights[mask].sum())
        labelled = mask & columns.labelled
        counts = (int(mask.sum()), int(labelled.sum()))
        if results and (results[-1].predictions, results[-1].labelled) == counts:
            # windows are nested, so the same counts are the same rows: reuse the shorter one's figures
            results.append(replace(results[-1], window=label, start=start_ms / 1000))
            continue
        window = WindowPerformance(
            label, start_ms / 1000, newest / 1000, *counts,
            float(columns.weights[labelled].sum()) / total if total else None,
        )  # fmt: skip
        if task == "classification":
            window.realized, window.unknown_class = _classification(columns, mask, classes, positive)
            window.estimated = _estimate(context.estimator, columns, mask)
            on_labelled = _estimate(context.point_estimator or context.estimator, columns, labelled)
            window.gap = estimation_gap(on_labelled, window.realized)
            window.segments = _segments(columns, mask, context, classes, positive)
        elif task == "regression":
            window.realized = _regression(columns, mask)
        results.append(window)
    performance = StreamPerformance(context.model, context.version, task, classes, results, baseline)
    performance.seconds = time.perf_counter() - started
    return performance


def segment_column(columns: Columns, context: StreamContext, name: str) -> np.ndarray:
    """Each row's value of segment attribute ``name`` (``_missing`` when it had none)."""
    values = context.segment_values
    return np.asarray(
        [values[s].get(name, MISSING) if s is not None else MISSING for s in columns.segments],
        dtype=object,
    ).astype(str)


def _segments(
    columns: Columns, mask: np.ndarray, context: StreamContext, classes: list[str], positive: str | None
) -> dict[str, Any]:
    """Per segment attribute: each value's realized metrics (labelled rows), selection rate (all
    predictions, labelled or not) and the disparities between the values."""
    if not context.segment_by:
        return {}
    predicted = mask & columns.has_prediction
    positions = np.flatnonzero(predicted)
    y_pred = columns.predicted_keys[positions]
    scored = columns.labelled[positions]
    if classes:
        scored &= np.isin(y_pred, classes)
    y_true = columns.label_keys[positions]
    if classes:
        scored &= np.isin(y_true, classes)
    classes_seen = classes or sorted(set(y_pred.tolist()) | set(y_true[scored].tolist()))
    if positive is None and len(classes_seen) == 2:
        positive = binary_positive(classes_seen)
    weights = columns.weights[positions]
    with_proba = bool(classes) and bool(columns.has_proba[positions][scored].all())
    result = {}
    for name in context.segment_by:
        groups = segment_column(columns, context, name)[positions]
        per_group: dict[str, dict[str, Any]] = {}
        labelled_metrics = {}
        if scored.any():
            labelled_metrics = segment_metrics(
                groups[scored], y_true[scored], y_pred[scored],
                proba=columns.proba[positions][scored] if with_proba else None,
                classes=classes_seen, weights=weights[scored], positive=positive,
            )  # fmt: skip
        rates = selection_rates(groups, y_pred, positive, weights) if positive is not None else {}
        counts = dict(zip(*np.unique(groups, return_counts=True), strict=True))
        for group in sorted(set(counts) | set(labelled_metrics)):
            metrics = _finite(
                {k: v for k, v in labelled_metrics.get(group, {}).items() if k != "selection_rate"}
            )
            per_group[str(group)] = {
                "predictions": int(counts.get(group, 0)),
                "labelled": metrics.pop("rows", 0.0),
                "selection_rate": rates.get(group),
                "metrics": metrics,
            }
        selection = disparity({g: {"rows": float(v["predictions"]), "selection_rate": v["selection_rate"]}
                               for g, v in per_group.items() if v["selection_rate"] is not None})  # fmt: skip
        outcomes = disparity({g: {"rows": v["labelled"], **v["metrics"]} for g, v in per_group.items()})
        result[name] = {
            "groups": per_group,
            "disparity": _finite(
                {
                    **{k: v for k, v in selection.items() if k.startswith("selection_rate")},
                    **{k: v for k, v in outcomes.items() if not k.startswith("selection_rate")},
                }
            ),
        }
    return result
