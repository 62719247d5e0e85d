"""``prometheus`` exporter: received OTLP metrics as Prometheus series on the collector's /metrics.

Translation follows the OpenTelemetry → Prometheus compatibility rules: names sanitised,
unit suffixes appended (``http.server.duration`` in ``ms`` → ``http_server_duration_milliseconds``),
monotonic cumulative sums as counters with ``_total``, other sums and gauges as gauges,
explicit-bucket histograms with cumulative ``le`` buckets; ``service.namespace/service.name``
becomes ``job`` and ``service.instance.id`` becomes ``instance``. Series not updated for
``metric_expiration_seconds`` disappear. Delta temporality is not translated (the SDKs
export cumulative by default) and is counted as dropped.

Exponential histograms become classic ``le`` histograms whose bounds are the exponential
bucket boundaries: Prometheus 2.42 can only ingest native histograms over its protobuf scrape,
which prometheus_client does not write, while every Prometheus reads classic buckets and
``histogram_quantile`` works on them. They are first downscaled (two adjacent buckets merged
per step, as the SDK itself does) until at most ``exponential_histogram_max_buckets`` buckets
per sign remain, bounding the series count; the bounds change when the scale does.

Exemplars (OpenMetrics only) go on counters, the latest of the point's, and on histogram
buckets, the latest falling in each bucket, with ``trace_id``/``span_id`` labels as the OTel
Collector writes them (see :mod:`modeltel.collector.exemplars`). Gauge exemplars are dropped:
OpenMetrics forbids them and Prometheus refuses the whole scrape.
"""

import re
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    Metric,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar as OtlpExemplar
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import Metric as PromMetric
from prometheus_client.samples import Exemplar
from pydantic import Field

from modeltel.collector import exemplars
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
    exponential_histogram_max_buckets: int = Field(default=40, ge=1, le=1000)


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


def latest_exemplar(points: "list[OtlpExemplar]", labels: dict[str, str]) -> Exemplar | None:
    """The most recent of a point's exemplars, if any."""
    if not points:
        return None
    latest = max(points, key=lambda exemplar: exemplar.time_unix_nano)
    return exemplars.from_otlp(latest, labels_of(latest.filtered_attributes))


def bucket_exemplars(upper_bounds: np.ndarray, points: "list[OtlpExemplar]") -> dict[int, Exemplar]:
    """The latest exemplar of each bucket, by bucket index (``len(upper_bounds)`` is +Inf).

    An exemplar belongs to the first bucket whose ``le`` bound is at or above its value.
    """
    chosen: dict[int, OtlpExemplar] = {}
    for exemplar in points:
        value = exemplar.as_double if exemplar.WhichOneof("value") == "as_double" else exemplar.as_int
        index = int(np.searchsorted(upper_bounds, value, side="left"))
        if index not in chosen or exemplar.time_unix_nano >= chosen[index].time_unix_nano:
            chosen[index] = exemplar
    return {
        index: exemplars.from_otlp(exemplar, labels_of(exemplar.filtered_attributes))
        for index, exemplar in chosen.items()
    }


def merged_buckets(offset: int, counts: "list[int]", shift: int) -> tuple[int, np.ndarray]:
    """Exponential buckets after lowering the scale by ``shift``: index i goes to i >> shift."""
    if not counts:
        return 0, np.zeros(0, dtype=np.int64)
    indices = (offset + np.arange(len(counts), dtype=np.int64)) >> shift
    first = int(indices[0])
    return first, np.bincount(indices - first, weights=np.asarray(counts, dtype=np.float64)).astype(np.int64)


def downscale_shift(point: ExponentialHistogramDataPoint, max_buckets: int) -> int:
    """The smallest scale reduction leaving at most ``max_buckets`` buckets on each side."""
    shift = 0
    for buckets in (point.positive, point.negative):
        if not buckets.bucket_counts:
            continue
        low, high = buckets.offset, buckets.offset + len(buckets.bucket_counts) - 1
        while (high >> shift) - (low >> shift) + 1 > max_buckets:
            shift += 1
    return shift


def exponential_as_classic(
    point: ExponentialHistogramDataPoint, max_buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Upper bounds and cumulative counts of a classic histogram holding the same observations.

    Positive bucket i at scale s holds (base**i, base**(i+1)] with base = 2**(2**-s); negative
    bucket i holds [-base**(i+1), -base**i); the zero bucket holds [-threshold, threshold].
    The +Inf bucket is left to the caller (it is the point's count).
    """
    shift = downscale_shift(point, max_buckets)
    scale = point.scale - shift
    negative_first, negative = merged_buckets(point.negative.offset, point.negative.bucket_counts, shift)
    positive_first, positive = merged_buckets(point.positive.offset, point.positive.bucket_counts, shift)
    negative_index = negative_first + np.arange(len(negative))[::-1]  # most negative first
    positive_index = positive_first + np.arange(len(positive))
    bounds = [-np.exp2(negative_index * 2.0**-scale)]
    counts = [negative[::-1]]
    if point.zero_count or len(negative):
        bounds.append(np.array([point.zero_threshold]))
        counts.append(np.array([point.zero_count]))
    bounds.append(np.exp2((positive_index + 1) * 2.0**-scale))
    counts.append(positive)
    return np.concatenate(bounds), np.cumsum(np.concatenate(counts))


@dataclass
class Series:
    """The latest state of one translated series; ``samples`` are (suffix, extra labels, value, exemplar)."""

    family: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: dict[str, str]
    samples: list[tuple[str, dict[str, str], float, Exemplar | None]]
    updated: float


_UNTRANSLATED: "weakref.WeakKeyDictionary[CollectorRegistry, Counter]" = weakref.WeakKeyDictionary()


def untranslated_counter(registry: CollectorRegistry) -> Counter:
    """One counter per registry, shared by every exporter that translates OTLP metrics."""
    counter = _UNTRANSLATED.get(registry)
    if counter is None:
        counter = _UNTRANSLATED[registry] = Counter(
            "modeltel_prometheus_untranslated_points",
            "Received metric data points a Prometheus exporter cannot translate, by exporter and reason.",
            ["exporter", "reason"],
            registry=registry,
        )
    return counter


class SeriesStore:
    """The latest state of every translated series of one exporter; idle series expire."""

    def __init__(self, config: PrometheusConfig, on_drop: Callable[[str, int], None]) -> None:
        self._config = config
        self._on_drop = on_drop
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}

    def add(self, batch: ExportMetricsServiceRequest) -> int:
        """Translate a batch; returns the data points translated."""
        now = time.monotonic()
        translated = 0
        for resource_metrics in batch.resource_metrics:
            base_labels = resource_labels(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    translated += self._translate(metric, base_labels, now)
        return translated

    def current(self) -> list[Series]:
        """Every live series, after dropping those idle longer than the expiration."""
        return self.current_and_expired()[0]

    def current_and_expired(self) -> tuple[list[Series], list[Series]]:
        """Live series, and those that expired just now (a pusher marks them stale)."""
        horizon = time.monotonic() - self._config.metric_expiration_seconds
        expired = [key for key, series in self._series.items() if series.updated < horizon]
        gone = [self._series.pop(key) for key in expired]
        return list(self._series.values()), gone

    def _translate(self, metric: Metric, base_labels: dict[str, str], now: float) -> int:
        kind = metric.WhichOneof("data")
        if kind == "gauge" or (kind == "sum" and not metric.sum.is_monotonic):
            points, prom_kind, suffix = getattr(metric, kind).data_points, "gauge", ""
        elif kind == "sum":
            if metric.sum.aggregation_temporality != CUMULATIVE:
                return self._drop("delta_temporality", len(metric.sum.data_points))
            points, prom_kind, suffix = metric.sum.data_points, "counter", "_total"
        elif kind in ("histogram", "exponential_histogram"):
            data = getattr(metric, kind)
            if data.aggregation_temporality != CUMULATIVE:
                return self._drop("delta_temporality", len(data.data_points))
            return self._translate_histograms(metric, base_labels, now)
        else:
            return self._drop(f"unsupported_{kind}", len(getattr(metric, kind).data_points) if kind else 1)
        family = metric_name(metric.name, metric.unit, prom_kind)
        for point in points:
            value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
            labels = {**labels_of(point.attributes), **base_labels}
            exemplar = latest_exemplar(point.exemplars, labels) if prom_kind == "counter" else None
            self._keep(
                Series(family, prom_kind, metric.description, labels, [(suffix, {}, value, exemplar)], now)
            )
        return len(points)

    def _translate_histograms(self, metric: Metric, base_labels: dict[str, str], now: float) -> int:
        family = metric_name(metric.name, metric.unit, "histogram")
        exponential = metric.WhichOneof("data") == "exponential_histogram"
        points = metric.exponential_histogram.data_points if exponential else metric.histogram.data_points
        for point in points:
            if exponential:
                bounds, cumulative = exponential_as_classic(
                    point, self._config.exponential_histogram_max_buckets
                )
            else:
                bounds = np.asarray(point.explicit_bounds, dtype=np.float64)
                cumulative = np.cumsum(np.asarray(point.bucket_counts, dtype=np.int64))
                if len(cumulative) < len(bounds) + 1:  # no buckets sent: only +Inf is known
                    bounds = bounds[:0]
                cumulative = cumulative[: len(bounds)]  # the last count is +Inf's: the point's count
            by_bucket = bucket_exemplars(bounds, point.exemplars)
            samples: list[tuple[str, dict[str, str], float, Exemplar | None]] = [
                ("_bucket", {"le": repr(float(bound))}, float(count), by_bucket.get(index))
                for index, (bound, count) in enumerate(zip(bounds.tolist(), cumulative.tolist(), strict=True))
            ]
            samples.append(("_bucket", {"le": "+Inf"}, float(point.count), by_bucket.get(len(bounds))))
            samples.append(("_count", {}, float(point.count), None))
            if not exponential or point.HasField("sum"):
                samples.append(("_sum", {}, point.sum, None))
            labels = {**labels_of(point.attributes), **base_labels}
            self._keep(Series(family, "histogram", metric.description, labels, samples, now))
        return len(points)

    def _keep(self, series: Series) -> None:
        self._series[(series.family, tuple(sorted(series.labels.items())))] = series

    def _drop(self, reason: str, points: int) -> int:
        self._on_drop(reason, points)
        return 0


class PrometheusExporter:
    """Serves the translated series on the collector's /metrics (prometheus_client collector)."""

    def __init__(self, component_id: str, config: PrometheusConfig) -> None:
        self._id = component_id
        self._series = SeriesStore(config, self._count_drop)
        self._dropped: Counter | None = None
        self._host: Host | None = None

    def _count_drop(self, reason: str, points: int) -> None:
        if self._dropped is not None:
            self._dropped.labels(self._id, reason).inc(points)

    async def start(self, host: Host) -> None:
        self._host = host
        self._dropped = untranslated_counter(host.registry)
        host.registry.register(self)

    async def shutdown(self) -> None:
        if self._host is not None:
            self._host.registry.unregister(self)

    async def consume(self, signal: Signal, batch: ExportMetricsServiceRequest) -> None:
        translated = self._series.add(batch)
        if self._host is not None:
            self._host.metrics.exporter_sent.labels(self._id, signal.value).inc(translated)

    def collect(self) -> Iterator[PromMetric]:
        """prometheus_client collector protocol: called on every scrape."""
        families: dict[str, PromMetric] = {}
        for series in self._series.current():
            family = families.get(series.family)
            if family is None:
                family = families[series.family] = PromMetric(series.family, series.help, series.kind)
            for suffix, extra, value, exemplar in series.samples:
                family.add_sample(
                    series.family + suffix, {**series.labels, **extra}, value, exemplar=exemplar
                )
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
