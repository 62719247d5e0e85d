"""``modeltel check``: the streaming engine run once over a file, and its three renderings.

Same counts, same verdicts as the collector's processor (one window holding the whole file),
so a CI gate, a training-serving skew check and a backfill agree with live monitoring.
"""

from __future__ import annotations

import html
import json
from typing import Any, Literal

from modeltel.drift.calibration import DriftSettings
from modeltel.drift.counts import WindowCounts
from modeltel.drift.evaluation import evaluate
from modeltel.drift.profile import Profile, ProfileError
from modeltel.drift.report import FeatureReport, ModelReport
from modeltel.drift.tables import TableColumn, columns
from modeltel.performance import check as performance_check
from modeltel.performance.check import PerformanceReport

FailOn = Literal["drift", "quality", "performance", "never"]


def run_check(
    profile: Profile,
    data: Any,
    settings: DriftSettings | None = None,
    *,
    table: list[TableColumn] | None = None,
) -> ModelReport:
    """Evaluate ``data`` (path, DataFrame, pyarrow Table or mapping) against ``profile``;
    ``table``: its columns already read (so ``check`` reads a file once for drift and performance).

    Raises ProfileError when the data shares no column with the profile (wrong file or
    wrong profile); a partial overlap is reported as schema changes instead."""
    table = columns(data) if table is None else table
    names = {c.name for c in table}
    if table and not names & set(profile.names):
        raise ProfileError(
            f"profile mismatch: the data has none of the profile's columns "
            f"(profile: {', '.join(profile.names[:10])}; data: {', '.join(sorted(names)[:10])})"
        )
    window = WindowCounts(profile)
    n_rows = len(table[0].values) if table else 0
    window.add({c.name: c.values for c in table}, n_rows=n_rows, parse_strings=True)
    return evaluate(window, settings)


def failed(report: ModelReport, fail_on: FailOn, performance: PerformanceReport | None = None) -> bool:
    """``drift``: any drifted column or dataset drift; ``quality``: that or any quality or
    schema issue (the stricter gate); ``performance``: a degraded metric
    (modeltel.performance.check); ``never``: report only."""
    if fail_on == "never":
        return False
    if fail_on == "performance":
        return performance is not None and bool(performance.degraded)
    if report.drifted:
        return True
    return fail_on == "quality" and report.quality_issues > 0


def render_json(report: ModelReport, performance: PerformanceReport | None = None) -> str:
    body = report.to_dict()
    if performance is not None:
        body["performance"] = performance.to_dict()
    return json.dumps(body, indent=2)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "inf"
    return f"{value:.{digits}g}"


def _feature_row(r: FeatureReport) -> list[str]:
    q = r.quality
    extra = q.out_of_range_ratio if q.out_of_range_ratio is not None else q.new_category_ratio
    verdict = "DRIFT" if r.drifted else ("ok" if r.tested else "untested")
    return [
        r.name,
        r.kind,
        r.role,
        _fmt(r.score),
        _fmt(r.threshold),
        f"{r.p_value:.2g}",
        verdict,
        f"{q.missing_ratio:.2%}",
        "-" if extra is None else f"{extra:.2%}",
        ",".join(q.issues) or "-",
    ]


def render_table(report: ModelReport, performance: PerformanceReport | None = None) -> str:
    header = [
        "feature",
        "kind",
        "role",
        "score",
        "threshold",
        "p",
        "verdict",
        "missing",
        "oor/new",
        "quality",
    ]
    rows = [header, *(_feature_row(r) for r in report.features)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.extend(_summary(report))
    if performance is not None:
        lines.extend(["", performance_check.render_table(performance)])
    return "\n".join(lines)


def _summary(report: ModelReport) -> list[str]:
    tested_inputs = sum(1 for r in report.features if r.tested and r.role == "feature")
    drifted_inputs = sum(1 for r in report.features if r.drifted and r.role == "feature")
    lines = [
        f"model {report.model or '-'} version {report.version or '-'}: {report.records} rows",
        f"drifted: {drifted_inputs} of {tested_inputs} input features ({report.drift_share:.0%}); "
        f"dataset drift: {'YES' if report.dataset_drift else 'no'}; "
        f"prediction drift: {'YES' if report.prediction_drift else 'no'}",
    ]
    if report.multivariate is not None:
        mv = report.multivariate
        lines.append(
            f"multivariate (PCA reconstruction error): score {_fmt(mv.score)} threshold {_fmt(mv.threshold)} "
            f"error ratio {mv.error_ratio:.3g} -> {'DRIFT' if mv.drifted else 'ok'}"
        )
    if report.missing_features:
        lines.append(f"schema: missing features {', '.join(report.missing_features)}")
    if report.unexpected_features:
        lines.append(f"schema: unexpected features {', '.join(report.unexpected_features)}")
    lines.append(f"quality issues: {report.quality_issues}")
    return lines


# -- HTML -------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}
.drift{color:#b00020;font-weight:bold}.ok{color:#1b5e20}section{margin:1.5em 0}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}"""
_REF, _CUR = "#9e9e9e", "#1565c0"


def histogram_svg(r: FeatureReport, width: int = 640, height: int = 140) -> str:
    """Reference (grey) vs current (blue) proportion per bin, as inline SVG."""
    bins = max(len(r.reference), 1)
    top = max([*r.reference, *r.current, 1e-9])
    slot = width / bins
    bar = max(slot / 2 - 1, 0.5)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" '
        f'role="img" aria-label="{html.escape(r.name)} histogram">'
    ]
    for i, (label, ref, cur) in enumerate(zip(r.bins, r.reference, r.current, strict=False)):
        x = i * slot
        for offset, value, colour, side in ((0, ref, _REF, "reference"), (bar, cur, _CUR, "current")):
            h = value / top * height
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{html.escape(label)} {side}: {value:.2%}</title></rect>'
            )
    parts.append(f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#444"/>')
    if r.bins:
        parts.append(f'<text x="0" y="{height + 14}" font-size="10">{html.escape(r.bins[0])}</text>')
        last = html.escape(r.bins[-1])
        parts.append(f'<text x="{width}" y="{height + 14}" font-size="10" text-anchor="end">{last}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: ModelReport, performance: PerformanceReport | None = None) -> str:
    """One self-contained page: summary, per-feature table, per-feature histograms."""
    title = f"modeltel check: {report.model or 'model'} {report.version}".strip()
    head = ["feature", "kind", "role", "score", "threshold", "p", "verdict", "missing", "oor/new", "quality"]
    rows = []
    for r in report.features:
        cells = _feature_row(r)
        css = "drift" if r.drifted else "ok"
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="{css}">{html.escape(c)}</td>' if i == 6 else f"<td>{html.escape(c)}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    sections = []
    for r in report.features:
        if not r.bins:  # identifiers: schema only, nothing to draw
            continue
        verdict = "DRIFT" if r.drifted else "no drift"
        sections.append(
            f'<section id="feature-{html.escape(r.name)}"><h3>{html.escape(r.name)} '
            f'<small class="{"drift" if r.drifted else "ok"}">{verdict}</small></h3>'
            f"<p>score {_fmt(r.score)} / threshold {_fmt(r.threshold)}, p = {r.p_value:.2g}, "
            f"PSI {_fmt(r.psi)}, JS {_fmt(r.jensen_shannon)}"
            f"{'' if r.ks is None else f', KS {_fmt(r.ks)}'}</p>{histogram_svg(r)}</section>"
        )
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in _summary(report))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>{summary}</ul>"
        f'<p class="legend"><span style="background:{_REF}"></span>reference'
        f'<span style="background:{_CUR}"></span>current</p>'
        f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{''.join(rows)}</table>"
        f"{'' if performance is None else performance_check.render_html(performance)}"
        f"{''.join(sections)}</body></html>"
    )


def render(report: ModelReport, fmt: str, performance: PerformanceReport | None = None) -> str:
    if fmt == "json":
        return render_json(report, performance)
    if fmt == "html":
        return render_html(report, performance)
    return render_table(report, performance)
