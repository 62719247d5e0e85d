"""The performance processor's Prometheus series (docs/performance.md lists them with their labels).

Gauges are set per evaluation and a series whose metric became undefined (no labels left in
its window, say) is removed rather than left at a stale value. ``window`` is the trailing
horizon by prediction time (``"1d"``, ``"7d"``, ...), one value per configured window, so
cardinality is models x versions x metrics x windows.
"""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from modeltel.collector.processors.performance.evaluation import StreamPerformance

MODEL = ["ml_model_name", "ml_model_version"]
METRIC = [*MODEL, "metric", "window"]
SEGMENT = [*MODEL, "window", "segment", "segment_value"]
DELAY_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)


@dataclass
class PerformanceMetrics:
    realized: Gauge
    baseline: Gauge
    estimated: Gauge
    estimated_lower: Gauge
    estimated_upper: Gauge
    gap: Gauge
    coverage: Gauge
    segment: Gauge
    selection_rate: Gauge
    disparity: Gauge
    delay: Histogram
    labels_received: Counter
    labels_joined: Counter
    labels_duplicate: Counter
    labels_invalid: Counter
    evicted: Counter
    predictions: Counter
    predictions_duplicate: Counter
    records_invalid: Counter
    pending: Gauge
    awaiting: Gauge
    stored: Gauge
    store_bytes: Gauge
    published: dict[tuple[str, str], dict[str, set[tuple[str, ...]]]] = field(default_factory=dict)

    @classmethod
    def register(cls, registry: CollectorRegistry) -> "PerformanceMetrics":
        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        return cls(
            realized=gauge("modeltel_model_performance", "Realized metric on labelled predictions.", METRIC),
            baseline=gauge(
                "modeltel_model_performance_baseline",
                "The metric on the profile's labelled reference.",
                [*MODEL, "metric"],
            ),
            estimated=gauge(
                "modeltel_model_performance_estimated",
                "Label-free estimate (CBPE) from all predictions.",
                METRIC,
            ),
            estimated_lower=gauge(
                "modeltel_model_performance_estimated_lower",
                "Lower bound of the estimate's sampling band.",
                METRIC,
            ),
            estimated_upper=gauge(
                "modeltel_model_performance_estimated_upper",
                "Upper bound of the estimate's sampling band.",
                METRIC,
            ),
            gap=gauge(
                "modeltel_model_performance_estimation_gap",
                "Estimated minus realized, both on the labelled predictions of the window.",
                METRIC,
            ),
            coverage=gauge(
                "modeltel_label_coverage_ratio",
                "Weighted share of the window's predictions labelled.",
                [*MODEL, "window"],
            ),
            segment=gauge(
                "modeltel_segment_performance", "Realized metric per segment value.", [*SEGMENT, "metric"]
            ),
            selection_rate=gauge(
                "modeltel_segment_selection_rate",
                "Share of the segment's predictions that are positive.",
                SEGMENT,
            ),
            disparity=gauge(
                "modeltel_segment_disparity",
                "Disparity between the segment's groups (docs/performance.md).",
                [*MODEL, "window", "segment", "metric"],
            ),
            delay=Histogram(
                "modeltel_label_delay_seconds",
                "Label time minus prediction time, per joined label.",
                MODEL,
                buckets=DELAY_BUCKETS,
                registry=registry,
            ),
            labels_received=counter("modeltel_labels_received", "Labels received, by source.", ["source"]),
            labels_joined=counter("modeltel_labels_joined", "Labels joined to their prediction.", MODEL),
            labels_duplicate=counter(
                "modeltel_labels_duplicate",
                "Labels for a prediction already labelled (first label wins), by whether they differ.",
                ["conflicting"],
            ),
            labels_invalid=counter("modeltel_labels_invalid", "Labels refused, by reason.", ["reason"]),
            evicted=counter(
                "modeltel_join_store_evicted",
                "Rows removed from the join store: kind prediction_unlabelled | prediction_labelled | label "
                "(held, its prediction never came); reason ttl | size.",
                ["kind", "reason"],
            ),
            predictions=counter("modeltel_performance_predictions", "Predictions stored for joining.", MODEL),
            predictions_duplicate=counter(
                "modeltel_performance_predictions_duplicate", "Predictions whose id was already stored.", []
            ),
            records_invalid=counter(
                "modeltel_performance_records_invalid",
                "Prediction records the performance processor could not use, by reason.",
                ["reason"],
            ),
            pending=gauge("modeltel_labels_pending", "Labels held until their prediction arrives.", []),
            awaiting=gauge("modeltel_join_store_awaiting_labels", "Stored predictions without a label.", []),
            stored=gauge("modeltel_join_store_predictions", "Predictions in the join store.", []),
            store_bytes=gauge("modeltel_join_store_bytes", "Size of the join store's files.", []),
        )

    def publish(self, performance: StreamPerformance) -> None:
        """Set the stream's gauges from one evaluation; remove its series that are gone."""
        model, version = performance.model, performance.version
        current: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in _GAUGES}
        for metric, value in performance.baseline.items():
            current["baseline"][(model, version, metric)] = value
        for window in performance.windows:
            label = window.window
            if window.coverage is not None:
                current["coverage"][(model, version, label)] = window.coverage
            for metric, value in window.realized.items():
                current["realized"][(model, version, metric, label)] = value
            for metric, estimate in window.estimated.items():
                current["estimated"][(model, version, metric, label)] = estimate.value
                current["estimated_lower"][(model, version, metric, label)] = estimate.lower
                current["estimated_upper"][(model, version, metric, label)] = estimate.upper
            for metric, value in window.gap.items():
                current["gap"][(model, version, metric, label)] = value
            for segment, result in window.segments.items():
                for value, group in result.get("groups", {}).items():
                    for metric, number in group.get("metrics", {}).items():
                        current["segment"][(model, version, label, segment, value, metric)] = number
                    if group.get("selection_rate") is not None:
                        current["selection_rate"][(model, version, label, segment, value)] = group[
                            "selection_rate"
                        ]
                for metric, number in result.get("disparity", {}).items():
                    current["disparity"][(model, version, label, segment, metric)] = number
        before = self.published.setdefault((model, version), {})
        for name, series in current.items():
            gauge: Gauge = getattr(self, name)
            for labels, value in series.items():
                gauge.labels(*labels).set(value)
            for stale in before.get(name, set()) - series.keys():
                gauge.remove(*stale)
            before[name] = set(series)


_GAUGES = (
    "realized", "baseline", "estimated", "estimated_lower", "estimated_upper", "gap", "coverage",
    "segment", "selection_rate", "disparity",
)  # fmt: skip
