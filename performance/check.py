"""``modeltel check`` on labelled data: realized and estimated metrics against the profile's
baseline, with a documented degradation rule for ``--fail-on performance``.

A gated metric (classifiers: accuracy, precision, recall, F1, ROC AUC; regressors: MAE,
RMSE) is **degraded** when it is worse than the baseline by more than ``tolerance`` (relative,
default 5%: "below 95% of baseline", or an error above 105%) *and* the difference is not
sampling noise:

- realized: the drop exceeds z standard errors of the difference of two samples, the
  file's n rows and the reference's, from the profile's band constants
  (``baseline_sd * sqrt(1/n + 1/n_ref)``), z one-sided at ``ALPHA = 0.01`` Bonferroni-split
  over the task's gated metrics (z = 2.88 for five), so a same-distribution file fails in
  at most ~1%;
- estimated (only when the file has no labels): even the band's favourable end is past the
  tolerance line.

So a small file is not failed on noise, and a large one is not failed on a 1% dip.
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from modeltel.drift import columns as col
from modeltel.drift.profile import Profile, ProfileError
from modeltel.drift.tables import TableColumn, columns
from modeltel.performance.baseline import HIGHER_IS_BETTER, PerformanceProfile
from modeltel.performance.estimation import PerformanceEstimator
from modeltel.performance.labels import PerformanceInputError, class_labels, label_keys
from modeltel.performance.realized import classification_metrics, regression_metrics

DEFAULT_TOLERANCE = 0.05
GATED = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("mae", "rmse"),
}
ALPHA = 0.01
"""Family-wise one-sided false-alarm level of the realized gate, split over the gated metrics."""


@dataclass
class MetricCheck:
    name: str
    baseline: float | None
    realized: float | None = None
    estimated: float | None = None
    lower: float | None = None
    upper: float | None = None
    gated: bool = False
    degraded: bool = False


@dataclass
class PerformanceReport:
    task: str
    rows: int
    labelled_rows: int
    estimated_rows: int
    tolerance: float
    classes: list[str] = field(default_factory=list)
    positive: str | None = None
    metrics: list[MetricCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> list[str]:
        return [m.name for m in self.metrics if m.degraded]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "degraded": self.degraded}


def run_performance_check(
    profile: Profile,
    data: Any,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    table: list[TableColumn] | None = None,
) -> PerformanceReport | None:
    """The performance part of a check; None when the profile has no performance baseline."""
    section = profile.performance
    if section is None:
        return None
    by_name = {c.name: c for c in (table if table is not None else columns(data))}
    n = max((len(c.values) for c in by_name.values()), default=0)
    report = PerformanceReport(section.task, n, 0, 0, tolerance, section.classes, section.positive)
    realized, labelled = _realized(section, by_name, report)
    estimates, report.estimated_rows = _estimated(section, by_name, report)
    report.labelled_rows = labelled
    names = list(dict.fromkeys([*section.baseline, *realized, *estimates]))
    for name in names:
        check = MetricCheck(name, section.baseline.get(name), realized.get(name))
        if name in estimates:
            e = estimates[name]
            check.estimated, check.lower, check.upper = e.value, e.lower, e.upper
        check.gated = name in GATED[section.task]
        check.degraded = check.gated and _degraded(check, section, labelled, tolerance)
        report.metrics.append(check)
    return report


def _present(values: np.ndarray) -> np.ndarray:
    """Rows holding a usable label or prediction (not None, NaN, "" or a list/dict)."""
    keys, usable = label_keys(values)
    return usable & (keys != "")


def _realized(section: PerformanceProfile, table: dict, report: PerformanceReport) -> tuple[dict, int]:
    if section.target not in table:
        report.notes.append(f"no label column {section.target!r}: realized metrics need labels")
        return {}, 0
    y = table[section.target].values
    keep = _present(y)
    if section.task == "regression":
        if section.prediction not in table:
            report.notes.append(f"no prediction column {section.prediction!r}")
            return {}, 0
        t = col.numeric(y, parse_strings=True)[0]
        p = col.numeric(table[section.prediction].values, parse_strings=True)[0]
        keep = np.isfinite(t) & np.isfinite(p)
        _note_dropped(report, keep, "label or prediction missing or not a number")
        return regression_metrics(t[keep], p[keep]), int(keep.sum())
    proba = _proba(section, table)
    if proba is not None:
        keep &= np.isfinite(proba).all(axis=1)
    if section.prediction is not None and section.prediction in table:
        pred = table[section.prediction].values
        keep &= _present(pred)
    elif proba is not None:
        pred = np.asarray(section.classes, dtype=object)[np.nan_to_num(proba).argmax(axis=1)]
    else:
        report.notes.append("no prediction or probability columns")
        return {}, 0
    _note_dropped(report, keep, "label, prediction or probability missing")
    try:
        labels, predicted = class_labels(y[keep], "labels"), class_labels(pred[keep], "predictions")
        known = np.isin(labels, section.classes) & np.isin(predicted, section.classes)
        if not known.all():
            seen = set(labels[~known].tolist()) | set(predicted[~known].tolist())
            strangers = sorted(seen - set(section.classes))[:5]
            report.notes.append(
                f"{int((~known).sum())} rows left out: label or prediction not a profile class {strangers}"
            )
        rows = np.flatnonzero(keep)[known]
        metrics = classification_metrics(
            labels[known], predicted[known], None if proba is None else proba[rows], classes=section.classes,
            positive=section.positive,
        )  # fmt: skip
    except PerformanceInputError as error:
        raise ProfileError(f"performance: {error}") from None
    return metrics, int(rows.size)


def _note_dropped(report: PerformanceReport, keep: np.ndarray, why: str) -> None:
    if (~keep).any():
        report.notes.append(f"{int((~keep).sum())} rows left out: {why}")


def _proba(section: PerformanceProfile, table: dict) -> np.ndarray | None:
    names = section.probability_columns()
    if all(name in table for name in names.values()):
        return np.column_stack([col.numeric(table[n].values, parse_strings=True)[0] for n in names.values()])
    if section.binary and names[section.positive] in table:
        p = col.numeric(table[names[section.positive]].values, parse_strings=True)[0]
        return np.column_stack([1 - p, p] if section.classes.index(section.positive) == 1 else [p, 1 - p])
    return None


def _estimated(section: PerformanceProfile, table: dict, report: PerformanceReport) -> tuple[dict, int]:
    estimator = PerformanceEstimator.from_profile(section)
    if estimator is None:
        return {}, 0
    proba = _proba(section, table)
    if proba is None:
        report.notes.append(f"no {section.probability_prefix}<class> columns: no estimated metrics")
        return {}, 0
    keep = np.isfinite(proba).all(axis=1)
    pred = None
    if section.prediction is not None and section.prediction in table:
        values = table[section.prediction].values
        keep &= _present(values)
        pred = values[keep]
    try:
        return estimator.estimate(np.clip(proba[keep], 0, 1), y_pred=pred), int(keep.sum())
    except PerformanceInputError as error:
        raise ProfileError(f"performance estimation: {error}") from None


def _degraded(check: MetricCheck, section: PerformanceProfile, n: int, tolerance: float) -> bool:
    if check.baseline is None:
        return False
    higher = check.name in HIGHER_IS_BETTER
    line = check.baseline * (1 - tolerance) if higher else check.baseline * (1 + tolerance)
    if check.realized is not None:
        beyond = check.realized < line if higher else check.realized > line
        sd = section.baseline_sd.get(check.name)
        z = NormalDist().inv_cdf(1 - ALPHA / len(GATED[section.task]))
        noise = 0.0 if sd is None or n == 0 else z * sd * math.sqrt(1 / n + 1 / section.rows)
        return beyond and abs(check.realized - check.baseline) > noise
    if check.estimated is not None and check.upper is not None and check.lower is not None:
        return check.upper < line if higher else check.lower > line
    return False


# -- rendering ----------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _rows(report: PerformanceReport) -> list[list[str]]:
    rows = []
    for m in report.metrics:
        band = "-" if m.lower is None else f"[{_fmt(m.lower)}, {_fmt(m.upper)}]"
        verdict = "DEGRADED" if m.degraded else ("ok" if m.gated else "")
        rows.append([m.name, _fmt(m.baseline), _fmt(m.realized), _fmt(m.estimated), band, verdict])
    return rows


HEADER = ["metric", "baseline", "realized", "estimated", "band", "verdict"]


def summary(report: PerformanceReport) -> list[str]:
    kind = report.task if report.task == "regression" else f"{len(report.classes)}-class classifier"
    lines = [
        f"performance ({kind}): {report.labelled_rows} labelled rows, "
        f"{report.estimated_rows} rows estimated; degraded (tolerance {report.tolerance:.0%}): "
        f"{', '.join(report.degraded) or 'none'}"
    ]
    return lines + [f"performance: {note}" for note in report.notes]


def render_table(report: PerformanceReport) -> str:
    rows = [HEADER, *_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, "", *summary(report)])


def render_html(report: PerformanceReport) -> str:
    cells = "".join(
        "<tr>" + "".join(
            f'<td class="{"drift" if c == "DEGRADED" else ""}">{html.escape(c)}</td>' for c in row
        ) + "</tr>"
        for row in _rows(report)
    )  # fmt: skip
    items = "".join(f"<li>{html.escape(line)}</li>" for line in summary(report))
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    return (
        f'<section id="performance"><h2>Performance</h2><ul>{items}</ul>'
        f"<table><tr>{head}</tr>{cells}</table></section>"
    )
