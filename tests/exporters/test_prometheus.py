"""OTLP metrics → Prometheus series, checked by a real Prometheus scraping the collector."""

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from modeltel.exporters.prometheus import metric_name
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
