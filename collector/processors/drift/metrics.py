"""The drift processor's Prometheus series, registered once on the collector's registry.

Per-window figures carry a ``window`` label: the tumbling window's length (e.g. ``"5m"``) for
the latest closed window, the long view's (e.g. ``"1h"``) for the merge of the last hour's
windows. ``modeltel_feature_drift{window="5m"}`` is the persistence alarm (k of the last m
windows drifted); ``{window="1h"}`` is the long view's own verdict. Exemplars (trace ids from
the most-shifted bins) ride on the ``modeltel_feature_drift_windows_total`` counter, because
OpenMetrics allows them only on counters and histogram buckets.

``modeltel_drift_view_seconds{view, window}`` says which ``window`` value is which view
(``view="window"``: the tumbling window and its persistence alarms; ``view="long_view"``), so
alert rules can select the persistence alarms without knowing the configured lengths.

With ``segment_by``, the per-feature and per-model gauges also carry the series of each
segment's stream, with two more labels, ``segment`` (the attribute) and ``segment_value``, in
the same family; the model's own series keep exactly their labels (no empty ``segment``).
``modeltel_feature_quality_issue{issue}`` carries the engine's calibrated quality verdicts
(drift/quality.py), one series per issue kind, so alerts need no hand-set ratio thresholds.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric

from modeltel.collector.exemplars import trace_exemplar
from modeltel.collector.processors.drift.windows import WindowResult

FEATURE = ["ml_model_name", "ml_model_version", "feature", "window"]
MODEL = ["ml_model_name", "ml_model_version", "window"]
STREAM = ["ml_model_name", "ml_model_version"]
SEGMENT = ["segment", "segment_value"]
Segment = tuple[str, str] | None  # (attribute, value) of a segment's stream; None: the model's
# Every issue kind drift/quality.py can flag; each published as 0 or 1 per feature and view.
QUALITY_ISSUES = (
    "missing_ratio",
    "nonfinite",
    "type_errors",
    "out_of_range",
    "new_category",
    "constant",
    "absent",
)


class SegmentedGauge:
    """One gauge family with two label sets: the model streams' series, and the segment
    streams' with ``segment`` and ``segment_value`` added (one family on /metrics)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.whole = Gauge(name, documentation, labels, registry=None)
        self.segmented = Gauge(name, documentation, [*labels, *SEGMENT], registry=None)

    def labels(self, *values: str, segment: Segment = None) -> Gauge:
        return self.whole.labels(*values) if segment is None else self.segmented.labels(*values, *segment)

    def describe(self) -> list[Metric]:
        return self.whole.describe()

    def collect(self) -> list[Metric]:
        (family,) = self.whole.collect()
        for segmented in self.segmented.collect():
            family.samples.extend(segmented.samples)
        return [family]


@dataclass(frozen=True)
class DriftMetrics:
    score: SegmentedGauge
    threshold: SegmentedGauge
    drift: SegmentedGauge
    missing: SegmentedGauge
    out_of_range: SegmentedGauge
    new_category: SegmentedGauge
    type_error: SegmentedGauge
    absent: SegmentedGauge
    unexpected: SegmentedGauge
    share: SegmentedGauge
    dataset: SegmentedGauge
    multivariate_score: SegmentedGauge
    multivariate: SegmentedGauge
    prediction: SegmentedGauge
    drift_windows: Counter
    windows: Counter
    records: Counter
    late: Counter
    invalid: Counter
    view_seconds: Gauge
    quality_issue: SegmentedGauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> "DriftMetrics":
        def gauge(name: str, doc: str, labels: list[str] = FEATURE) -> SegmentedGauge:
            family = SegmentedGauge(name, doc, labels)
            registry.register(family)
            return family

        return cls(
            score=gauge(
                "modeltel_feature_drift_score", "Drift statistic of the column (chi-square divergence)."
            ),
            threshold=gauge(
                "modeltel_feature_drift_threshold", "Score at or above which the window drifted."
            ),
            drift=gauge(
                "modeltel_feature_drift", "1 when the column drifted (persistence alarm / long view)."
            ),
            missing=gauge("modeltel_feature_missing_ratio", "Share of rows missing, non-finite or absent."),
            out_of_range=gauge(
                "modeltel_feature_out_of_range_ratio", "Share of numbers outside the reference."
            ),
            new_category=gauge(
                "modeltel_feature_new_category_ratio", "Share of categories the reference lacks."
            ),
            type_error=gauge(
                "modeltel_feature_type_error_ratio", "Share of values of the wrong type (e.g. text)."
            ),
            absent=gauge("modeltel_feature_absent", "1 when the column was absent from every row (schema)."),
            unexpected=gauge(
                "modeltel_unexpected_features", "Columns the reference profile does not have (schema).", MODEL
            ),
            share=gauge("modeltel_dataset_drift_share", "Share of tested input features drifted.", MODEL),
            dataset=gauge("modeltel_dataset_drift", "1 when the model's inputs drifted as a whole.", MODEL),
            multivariate_score=gauge(
                "modeltel_multivariate_drift_score", "PCA reconstruction-error divergence.", MODEL
            ),
            multivariate=gauge(
                "modeltel_multivariate_drift", "1 when the PCA reconstruction test drifted.", MODEL
            ),
            prediction=gauge(
                "modeltel_prediction_drift", "1 when a prediction or score column drifted.", MODEL
            ),
            drift_windows=Counter(
                "modeltel_feature_drift_windows",
                "Closed windows in which the column drifted; exemplar: a request from its most-shifted bin.",
                ["ml_model_name", "ml_model_version", "feature"],
                registry=registry,
            ),
            windows=Counter(
                "modeltel_drift_windows_closed", "Tumbling windows evaluated.", STREAM, registry=registry
            ),
            records=Counter(
                "modeltel_drift_records",
                "Prediction records taken by the drift processor, by use (windowed, reference).",
                [*STREAM, "use"],
                registry=registry,
            ),
            late=Counter(
                "modeltel_drift_late_records",
                "Records whose event-time window had closed (beyond allowed_lateness); not counted in drift.",
                STREAM,
                registry=registry,
            ),
            invalid=Counter(
                "modeltel_drift_records_invalid",
                "Prediction records the drift processor could not use fully, by reason.",
                ["reason"],
                registry=registry,
            ),
            view_seconds=Gauge(
                "modeltel_drift_view_seconds",
                "Length of each drift view: view=window (tumbling, persistence alarms) or long_view.",
                ["view", "window"],
                registry=registry,
            ),
            quality_issue=gauge(
                "modeltel_feature_quality_issue",
                "1 when the engine's calibrated test flagged this data-quality issue in the window.",
                [*FEATURE, "issue"],
            ),
        )

    def publish(
        self, model: str, version: str, label: str, result: WindowResult, dataset_share: float | None,
        segment: Segment = None,
    ) -> None:  # fmt: skip
        """Set every gauge of one view from its latest result. With ``dataset_share`` the model
        verdicts come from the persistence alarms (window view), else from the report (long view)."""
        report = result.report
        model_labels = (model, version, label)
        for feature in report.features:
            labels = (model, version, feature.name, label)
            if feature.tested and feature.score is not None and math.isfinite(feature.score):
                self.score.labels(*labels, segment=segment).set(feature.score)
                self.threshold.labels(*labels, segment=segment).set(feature.threshold)
            self.drift.labels(*labels, segment=segment).set(float(result.alarms.get(feature.name, False)))
            quality = feature.quality
            self.missing.labels(*labels, segment=segment).set(quality.missing_ratio)
            if quality.out_of_range_ratio is not None:
                self.out_of_range.labels(*labels, segment=segment).set(quality.out_of_range_ratio)
            if quality.new_category_ratio is not None:
                self.new_category.labels(*labels, segment=segment).set(quality.new_category_ratio)
            self.type_error.labels(*labels, segment=segment).set(quality.type_error_ratio)
            self.absent.labels(*labels, segment=segment).set(float(quality.absent))
        self.unexpected.labels(*model_labels, segment=segment).set(len(report.unexpected_features))
        share = result.drift_share
        self.share.labels(*model_labels, segment=segment).set(share)
        outputs = [f for f in report.features if f.role in ("prediction", "score")]
        if dataset_share is not None:
            dataset = share >= dataset_share
            prediction = any(result.alarms.get(f.name, False) for f in outputs)
        else:
            dataset, prediction = report.dataset_drift, report.prediction_drift
        self.dataset.labels(*model_labels, segment=segment).set(float(dataset))
        self.prediction.labels(*model_labels, segment=segment).set(float(prediction))
        if report.multivariate is not None:
            if math.isfinite(report.multivariate.score):
                self.multivariate_score.labels(*model_labels, segment=segment).set(report.multivariate.score)
            self.multivariate.labels(*model_labels, segment=segment).set(float(report.multivariate.drifted))

    def count_drifted(self, model: str, version: str, result: WindowResult) -> None:
        """One increment per drifted column of a closed window, with a trace from its most-shifted bin."""
        for feature in result.report.features:
            if feature.drifted:
                traces = result.exemplars.get(feature.name) or []
                exemplar = trace_exemplar(traces[0]) if traces else None
                self.drift_windows.labels(model, version, feature.name).inc(exemplar=exemplar)

    def describe_views(self, window: str, window_seconds: float, long_view: str, long_seconds: float) -> None:
        """Publish which ``window`` label is the tumbling window and which the long view."""
        self.view_seconds.labels("window", window).set(window_seconds)
        self.view_seconds.labels("long_view", long_view).set(long_seconds)

    def publish_quality_issues(
        self, model: str, version: str, label: str, result: WindowResult, segment: Segment = None
    ) -> None:
        """One 0/1 series per tested feature and issue kind, so an issue's absence is visible too."""
        for feature in result.report.features:
            flagged = set(feature.quality.issues)
            for issue in QUALITY_ISSUES:
                self.quality_issue.labels(model, version, feature.name, label, issue, segment=segment).set(
                    float(issue in flagged)
                )
