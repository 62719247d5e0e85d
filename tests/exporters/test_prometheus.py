"""OTLP metrics → Prometheus series, checked by a real Prometheus scraping the collector."""

import time

import httpx
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar as OtlpExemplar
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as OtlpResource
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.openmetrics import parser as openmetrics_parser

from modeltel.collector import exemplars
from modeltel.exporters.prometheus import CUMULATIVE, exponential_as_classic, metric_name
from tests.collector.otlp_batches import prediction_batch
from tests.conftest import Collector, Prometheus, wait_until


def test_metric_names_follow_the_otel_prometheus_rules() -> None:
    assert metric_name("http.server.duration", "ms", "histogram") == "http_server_duration_milliseconds"
    assert (
        metric_name("http.server.request.duration", "s", "histogram")
        == "http_server_request_duration_seconds"
    )
    assert metric_name("process.memory.usage", "By", "gauge") == "process_memory_usage_bytes"
    assert metric_name("cache.hit", "1", "gauge") == "cache_hit_ratio"
    assert metric_name("requests", "{request}", "counter") == "requests"
    assert metric_name("throughput", "By/s", "gauge") == "throughput_bytes_per_seconds"
    assert metric_name("2xx.count", "", "counter") == "_2xx_count"
    assert metric_name("latency_seconds", "s", "histogram") == "latency_seconds"


def export_sdk_metrics(collector: Collector) -> None:
    """Counter, up-down counter, gauge and histogram from the real SDK, sent over OTLP/HTTP."""
    exporter = OTLPMetricExporter(endpoint=f"{collector.otlp_http}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(
        resource=Resource.create(
            {"service.name": "scorer", "service.namespace": "ml", "service.instance.id": "w1"}
        ),
        metric_readers=[reader, InMemoryMetricReader()],
        views=[
            View(
                instrument_name="inference.duration",
                aggregation=ExplicitBucketHistogramAggregation((0.005, 0.05, 1.0, 5.0)),
            )
        ],
    )
    meter = provider.get_meter("test")
    meter.create_counter("predictions", unit="{prediction}").add(5, {"model": "churn"})
    meter.create_up_down_counter("queue.depth").add(-2)
    meter.create_gauge("model.load", unit="1").set(0.25)
    histogram = meter.create_histogram("inference.duration", unit="s")
    for value in (0.001, 0.02, 0.02, 3.0):
        histogram.record(value, {"model": "churn"})
    provider.force_flush()
    provider.shutdown()


def test_sdk_metrics_are_translated(collector: Collector) -> None:
    export_sdk_metrics(collector)
    value = collector.value
    assert value("predictions_total", job="ml/scorer", instance="w1", model="churn") == 5
    assert value("queue_depth", job="ml/scorer") == -2
    assert value("model_load_ratio", job="ml/scorer") == 0.25
    assert value("inference_duration_seconds_count", model="churn") == 4
    assert value("inference_duration_seconds_sum", model="churn") == pytest.approx(3.041)
    assert value("inference_duration_seconds_bucket", model="churn", le="+Inf") == 4
    buckets = {"0.005": 1, "0.05": 3, "1.0": 3, "5.0": 4, "+Inf": 4}  # cumulative
    for le, count in buckets.items():
        assert value("inference_duration_seconds_bucket", model="churn", le=le) == count, le


def test_openmetrics_is_served_when_asked(collector: Collector) -> None:
    response = httpx.get(
        collector.metrics_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_real_prometheus_scrapes_the_collector(collector: Collector, prometheus: Prometheus) -> None:
    httpx.post(
        f"{collector.otlp_http}/v1/logs",
        content=prediction_batch(40, model="fraud").SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    ).raise_for_status()
    export_sdk_metrics(collector)

    fraud = 'modeltel_prediction_records_total{ml_model_name="fraud"}'
    wait_until(lambda: prometheus.query(fraud), timeout=30, what="the prediction counter in Prometheus")
    [series] = prometheus.query(fraud)
    assert series["value"][1] == "40"
    assert series["metric"]["ml_model_version"] == "3"
    wait_until(
        lambda: prometheus.query("inference_duration_seconds_bucket"), timeout=30, what="translated histogram"
    )
    [p50] = prometheus.query("histogram_quantile(0.5, sum by (le) (inference_duration_seconds_bucket))")
    assert float(p50["value"][1]) == pytest.approx(0.0275)  # rank 2 of 4, linear in (0.005, 0.05]
    # Resource labels arrive as exported_job/exported_instance next to the scrape's own.
    assert prometheus.query('predictions_total{exported_job="ml/scorer", exported_instance="w1"}')


def test_exponential_buckets_become_classic_le_buckets() -> None:
    point = ExponentialHistogramDataPoint(
        scale=0, count=9, zero_count=2, zero_threshold=0.0,
        positive=ExponentialHistogramDataPoint.Buckets(offset=0, bucket_counts=[1, 2, 3]),
        negative=ExponentialHistogramDataPoint.Buckets(offset=1, bucket_counts=[1]),
    )  # fmt: skip
    bounds, cumulative = exponential_as_classic(point, max_buckets=10)
    # (-4, -2] holds 1; zero holds 2; (1, 2], (2, 4], (4, 8] hold 1, 2, 3.
    assert bounds.tolist() == [-2.0, 0.0, 2.0, 4.0, 8.0]
    assert cumulative.tolist() == [1, 3, 4, 6, 9]
    # Two buckets at most: scale 0 → -1 (base 4) merges indices {0, 1} and keeps {2};
    # negative index 1 becomes 0: [-4, -1).
    bounds, cumulative = exponential_as_classic(point, max_buckets=2)
    assert bounds.tolist() == [-1.0, 0.0, 4.0, 16.0]
    assert cumulative.tolist() == [1, 3, 6, 9]


def test_sdk_exponential_histogram_keeps_its_observations(collector: Collector) -> None:
    """Seeded values over eight decades and exact zeros through the SDK's exponential aggregation
    (SDK histograms take no negative values; the unit test above covers those): every classic
    bucket must count exactly the values at or below its bound."""
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(0, 3, 990), np.zeros(10)])
    provider = MeterProvider(
        resource=Resource.create({"service.name": "scorer"}),
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{collector.otlp_http}/v1/metrics"),
                export_interval_millis=60_000,
            )
        ],
        views=[
            View(instrument_name="score", aggregation=ExponentialBucketHistogramAggregation(max_size=160))
        ],
    )
    histogram = provider.get_meter("test").create_histogram("score", unit="1")
    for value in values.tolist():
        histogram.record(value)
    provider.shutdown()

    samples = [s for s in collector.samples() if s.name == "score_bucket" and s.labels.get("job") == "scorer"]
    buckets = {s.labels["le"]: s.value for s in samples}
    assert buckets.pop("+Inf") == len(values)
    assert 10 < len(buckets) <= 2 * 40 + 1  # downscaled to the default 40 per sign, plus zero
    for le, count in buckets.items():
        assert count == np.count_nonzero(values <= float(le)), le
    assert collector.value("score_count", job="scorer") == len(values)
    assert collector.value("score_sum", job="scorer") == pytest.approx(values.sum())


def openmetrics_families(collector: Collector) -> dict:
    response = httpx.get(
        collector.metrics_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    return {
        family.name: family for family in openmetrics_parser.text_string_to_metric_families(response.text)
    }


def test_exemplars_reach_prometheus(collector: Collector, prometheus: Prometheus) -> None:
    """The SDK samples exemplars inside sampled spans; they must come back from Prometheus's
    exemplar API with the span's trace id, on the counter and on the right histogram bucket."""
    tracer = TracerProvider().get_tracer("test")
    provider = MeterProvider(
        resource=Resource.create({"service.name": "scorer", "service.instance.id": "w1"}),
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{collector.otlp_http}/v1/metrics"),
                export_interval_millis=60_000,
            )
        ],
        views=[
            View(instrument_name="latency", aggregation=ExplicitBucketHistogramAggregation((0.1, 1.0, 10.0)))
        ],
    )
    meter = provider.get_meter("test")
    counter, histogram = meter.create_counter("served"), meter.create_histogram("latency", unit="s")
    with tracer.start_as_current_span("slow") as slow:
        counter.add(1, {"model": "churn"})
        histogram.record(4.2, {"model": "churn"})
    with tracer.start_as_current_span("fast") as fast:
        histogram.record(0.05, {"model": "churn"})
    provider.shutdown()
    slow_trace = format(slow.get_span_context().trace_id, "032x")
    fast_trace = format(fast.get_span_context().trace_id, "032x")

    # OpenMetrics as the collector serves it: exemplars on _total and on buckets only.
    families = openmetrics_families(collector)
    [total] = [s for s in families["served"].samples if s.name == "served_total"]
    assert total.exemplar.labels == {
        "trace_id": slow_trace, "span_id": format(slow.get_span_context().span_id, "016x")
    }  # fmt: skip
    buckets = {
        s.labels["le"]: s.exemplar for s in families["latency_seconds"].samples if s.name.endswith("_bucket")
    }
    assert buckets["0.1"].labels["trace_id"] == fast_trace and buckets["0.1"].value == 0.05
    assert buckets["10.0"].labels["trace_id"] == slow_trace and buckets["10.0"].value == 4.2
    assert buckets["1.0"] is None and buckets["+Inf"] is None

    def exemplars(query: str) -> list[dict]:
        response = httpx.get(
            f"{prometheus.url}/api/v1/query_exemplars",
            params={"query": query, "start": time.time() - 600, "end": time.time() + 60},
            timeout=10,
        )
        response.raise_for_status()
        return [e for series in response.json()["data"] for e in series["exemplars"]]

    found = wait_until(lambda: exemplars("served_total"), timeout=30, what="counter exemplar in Prometheus")
    assert found[0]["labels"]["trace_id"] == slow_trace and float(found[0]["value"]) == 1
    found = wait_until(
        lambda: len(exemplars("latency_seconds_bucket")) >= 2, timeout=30, what="bucket exemplars"
    )
    by_trace = {e["labels"]["trace_id"]: float(e["value"]) for e in exemplars("latency_seconds_bucket")}
    assert by_trace == {slow_trace: 4.2, fast_trace: 0.05}
    [count] = prometheus.query('latency_seconds_count{exported_job="scorer", model="churn"}')
    assert count["value"][1] == "2"
    # The scrape kept working: the collector's own metrics are still there alongside.
    assert prometheus.query('up{job="modeltel-collector"}')[0]["value"][1] == "1"


def test_exemplar_labels_stay_within_the_openmetrics_limit() -> None:
    trace, span = bytes(range(16)), bytes(range(8))
    labels = exemplars.trace_exemplar(trace, span, {"model": "churn", "note": "x" * 100})
    assert labels == {"trace_id": trace.hex(), "span_id": span.hex(), "model": "churn"}
    assert sum(len(k) + len(v) for k, v in labels.items()) <= exemplars.MAX_LABEL_RUNES
    assert exemplars.trace_exemplar(b"\0" * 16) == {}  # an invalid (all-zero) id is no link

    # Collector components attach them with prometheus_client's own API.
    registry = CollectorRegistry()
    Counter("drift_alerts", "", registry=registry).inc(exemplar=exemplars.trace_exemplar(trace, span))
    text = openmetrics_exposition.generate_latest(registry).decode()
    assert f'drift_alerts_total 1.0 # {{span_id="{span.hex()}",trace_id="{trace.hex()}"}} 1.0' in text


def otlp_exemplar(value: float, seconds: int, trace_byte: int, **attributes: str) -> OtlpExemplar:
    return OtlpExemplar(
        as_double=value,
        time_unix_nano=seconds * 10**9,
        trace_id=bytes([trace_byte]) * 16,
        span_id=bytes([trace_byte]) * 8,
        filtered_attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attributes.items()],
    )


def test_otlp_exemplars_in_openmetrics(collector: Collector) -> None:
    """Hand-built OTLP: the latest counter exemplar wins, gauge exemplars are dropped (Prometheus
    would refuse the scrape), exponential-histogram exemplars land in their bucket."""
    gauge = Metric(name="queue", gauge=Gauge(data_points=[NumberDataPoint(as_double=3)]))
    gauge.gauge.data_points[0].exemplars.append(otlp_exemplar(3, 100, 1))
    total = Metric(name="served", sum=Sum(is_monotonic=True, aggregation_temporality=CUMULATIVE))
    total.sum.data_points.add(as_int=9).exemplars.extend(
        [otlp_exemplar(1, 100, 2), otlp_exemplar(1, 200, 3, route="/p")]
    )
    exponential = Metric(
        name="size", unit="By", exponential_histogram=ExponentialHistogram(aggregation_temporality=CUMULATIVE)
    )
    point = exponential.exponential_histogram.data_points.add(count=3, sum=11, scale=0)
    point.positive.bucket_counts.extend([1, 1, 1])  # (1, 2], (2, 4], (4, 8]
    point.exemplars.extend([otlp_exemplar(3.0, 100, 4), otlp_exemplar(7.5, 100, 5)])
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=OtlpResource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="svc"))]
                ),
                scope_metrics=[ScopeMetrics(metrics=[gauge, total, exponential])],
            )
        ]
    )
    httpx.post(
        f"{collector.otlp_http}/v1/metrics",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    ).raise_for_status()

    families = openmetrics_families(collector)
    [queue] = families["queue"].samples
    assert queue.value == 3 and queue.exemplar is None
    [served] = [s for s in families["served"].samples if s.name == "served_total"]
    assert served.exemplar.labels == {"trace_id": "03" * 16, "span_id": "03" * 8, "route": "/p"}
    assert float(served.exemplar.timestamp) == 200
    buckets = {s.labels["le"]: s for s in families["size_bytes"].samples if s.name == "size_bytes_bucket"}
    assert {le: s.value for le, s in buckets.items()} == {"2.0": 1, "4.0": 2, "8.0": 3, "+Inf": 3}
    assert buckets["4.0"].exemplar.labels["trace_id"] == "04" * 16
    assert buckets["8.0"].exemplar.labels["trace_id"] == "05" * 16
    assert buckets["2.0"].exemplar is None
