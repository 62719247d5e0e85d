"""``prometheus`` exporter: received OTLP metrics as Prometheus series on the collector's /metrics.

Translation follows the OpenTelemetry → Prometheus compatibility rules: names sanitised,
unit suffixes appended (``http.server.duration`` in ``ms`` → ``http_server_duration_milliseconds``),
monotonic cumulative sums as counters with ``_total``, other sums and gauges as gauges,
explicit-bucket histograms with cumulative ``le`` buckets; ``service.namespace/service.name``
becomes ``job`` and ``service.instance.id`` becomes ``instance``. Series not updated for
``metric_expiration_seconds`` disappear. Delta temporality is not translated (the SDKs
export cumulative by default) and is counted as dropped.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from prometheus_client import Counter
from prometheus_client.metrics_core import Metric as PromMetric
from pydantic import Field

from modeltel.collector.component import ComponentConfig, Factory, Host
from modeltel.collector.signals import Signal

_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_UNIT_WORDS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "KBy": "kilobytes", "MBy": "megabytes",
    "GBy": "gigabytes", "%": "percent", "Hz": "hertz", "V": "volts", "W": "watts",
}  # fmt: skip
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class PrometheusConfig(ComponentConfig):
    metric_expiration_seconds: float = Field(default=300.0, gt=0)


def metric_name(name: str, unit: str, kind: str) -> str:
    base = _INVALID_NAME_CHARS.sub("_", name)
    if base[:1].isdigit():
        base = f"_{base}"
    unit = re.sub(r"\{[^}]*\}", "", unit).strip()
    words = _UNIT_WORDS.get(unit)
    if words is None and "/" in unit:
        per, _, over = unit.partition("/")
        words = f"{_UNIT_WORDS.get(per, per)}_per_{_UNIT_WORDS.get(over, over)}" if per else None
    if words is None and unit == "1" and kind == "gauge":
        words = "ratio"
    if words is None and unit and unit != "1":
        words = _INVALID_NAME_CHARS.sub("_", unit)
    if words and not base.endswith(f"_{words}"):
        base = f"{base}_{words}"
    return base


def label_name(key: str) -> str:
    name = _INVALID_LABEL_CHARS.sub("_", key)
    return f"key_{name}" if name[:1].isdigit() else name


def any_value_text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind in ("string_value", "int_value", "double_value"):
        return str(getattr(value, kind))
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return str(getattr(value, kind)).replace("\n", " ")


def labels_of(attributes: "list[KeyValue]") -> dict[str, str]:
    return {label_name(attribute.key): any_value_text(attribute.value) for attribute in attributes}


def resource_labels(attributes: "list[KeyValue]") -> dict[str, str]:
    by_key = {attribute.key: any_value_text(attribute.value) for attribute in attributes}
    service = by_key.get("service.name", "")
    namespace = by_key.get("service.namespace")
    labels = {"job": f"{namespace}/{service}" if namespace else service}
    if "service.instance.id" in by_key:
        labels["instance"] = by_key["service.instance.id"]
    return labels


@dataclass
class Series:
    """The latest state of one translated series; ``samples`` are (suffix, extra labels, value)."""

    family: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: dict[str, str]
    samples: list[tuple[str, dict[str, str], float]]
    updated: float


class PrometheusExporter:
    def __init__(self, component_id: str, config: PrometheusConfig) -> None:
        self._id = component_id
        self._config = config
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
        self._dropped: Counter | None = None
        self._host: Host | None = None

    async def start(self, host: Host) -> None:
        self._host = host
        self._dropped = Counter(
            "modeltel_prometheus_untranslated_points",
            "Received metric data points the prometheus exporter cannot translate, by reason.",
            ["reason"],
            registry=host.registry,
        )
        host.registry.register(self)

    async def shutdown(self) -> None:
        if self._host is not None:
            self._host.registry.unregister(self)

    async def consume(self, signal: Signal, batch: ExportMetricsServiceRequest) -> None:
        now = time.monotonic()
        translated = 0
        for resource_metrics in batch.resource_metrics:
            base_labels = resource_labels(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    translated += self._translate(metric, base_labels, now)
        if self._host is not None:
            self._host.metrics.exporter_sent.labels(self._id, signal.value).inc(translated)

    def _translate(self, metric: Metric, base_labels: dict[str, str], now: float) -> int:
        kind = metric.WhichOneof("data")
        if kind == "gauge" or (kind == "sum" and not metric.sum.is_monotonic):
            points, prom_kind, suffix = getattr(metric, kind).data_points, "gauge", ""
        elif kind == "sum":
            if metric.sum.aggregation_temporality != CUMULATIVE:
                return self._drop("delta_temporality", len(metric.sum.data_points))
            points, prom_kind, suffix = metric.sum.data_points, "counter", "_total"
        elif kind == "histogram":
            if metric.histogram.aggregation_temporality != CUMULATIVE:
                return self._drop("delta_temporality", len(metric.histogram.data_points))
            return self._translate_histograms(metric, base_labels, now)
        else:
            return self._drop(f"unsupported_{kind}", len(getattr(metric, kind).data_points) if kind else 1)
        family = metric_name(metric.name, metric.unit, prom_kind)
        for point in points:
            value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
            labels = {**labels_of(point.attributes), **base_labels}
            self._store(Series(family, prom_kind, metric.description, labels, [(suffix, {}, value)], now))
        return len(points)

    def _translate_histograms(self, metric: Metric, base_labels: dict[str, str], now: float) -> int:
        family = metric_name(metric.name, metric.unit, "histogram")
        for point in metric.histogram.data_points:
            samples: list[tuple[str, dict[str, str], float]] = []
            cumulative = 0
            bounds = [*(repr(float(bound)) for bound in point.explicit_bounds), "+Inf"]
            for bound, count in zip(bounds, point.bucket_counts, strict=False):  # counts may be absent
                cumulative += count
                samples.append(("_bucket", {"le": bound}, float(cumulative)))
            if len(point.bucket_counts) < len(bounds):  # no buckets sent: only +Inf is known
                samples.append(("_bucket", {"le": "+Inf"}, float(point.count)))
            samples.append(("_count", {}, float(point.count)))
            samples.append(("_sum", {}, point.sum))
            labels = {**labels_of(point.attributes), **base_labels}
            self._store(Series(family, "histogram", metric.description, labels, samples, now))
        return len(metric.histogram.data_points)

    def _store(self, series: Series) -> None:
        self._series[(series.family, tuple(sorted(series.labels.items())))] = series

    def _drop(self, reason: str, points: int) -> int:
        if self._dropped is not None:
            self._dropped.labels(reason).inc(points)
        return 0

    def collect(self) -> Iterator[PromMetric]:
        """prometheus_client collector protocol: called on every scrape."""
        horizon = time.monotonic() - self._config.metric_expiration_seconds
        for key in [key for key, series in self._series.items() if series.updated < horizon]:
            del self._series[key]
        families: dict[str, PromMetric] = {}
        for series in list(self._series.values()):
            family = families.get(series.family)
            if family is None:
                family = families[series.family] = PromMetric(series.family, series.help, series.kind)
            for suffix, extra, value in series.samples:
                family.add_sample(series.family + suffix, {**series.labels, **extra}, value)
        yield from families.values()

    def describe(self) -> list[PromMetric]:
        return []  # dynamic families: nothing to check for duplicates at registration


FACTORY = Factory(
    kind="exporter",
    type="prometheus",
    config=PrometheusConfig,
    signals=frozenset({Signal.METRICS}),
    create=PrometheusExporter,
)
