"""``prometheusremotewrite``: the translated series pushed to a real Prometheus, and retries."""

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cramjam
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from modeltel.exporters import remote_write_proto as prompb
from tests.conftest import Collector, free_port, launch_collector, launch_prometheus, wait_until


def with_remote_write(endpoint: str, expiration: float = 300) -> Callable[[dict], None]:
    def configure(config: dict) -> None:
        config["exporters"]["prometheusremotewrite"] = {
            "endpoint": endpoint,
            "interval_seconds": 0.5,
            "metric_expiration_seconds": expiration,
        }
        config["service"]["pipelines"]["metrics"]["exporters"].append("prometheusremotewrite")

    return configure


def send_metrics(collector: Collector) -> str:
    """A counter and a histogram from the SDK inside a sampled span; returns its trace id."""
    provider = MeterProvider(
        resource=Resource.create(
            {"service.name": "scorer", "service.namespace": "ml", "service.instance.id": "w1"}
        ),
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{collector.otlp_http}/v1/metrics"),
                export_interval_millis=60_000,
            )
        ],
        views=[View(instrument_name="latency", aggregation=ExplicitBucketHistogramAggregation((0.1, 1.0)))],
    )
    meter = provider.get_meter("test")
    with TracerProvider().get_tracer("test").start_as_current_span("request") as span:
        meter.create_counter("predictions").add(5, {"model": "churn"})
        for value in (0.05, 0.5, 0.7, 3.0):
            meter.create_histogram("latency", unit="s").record(value, {"model": "churn"})
    provider.shutdown()
    return format(span.get_span_context().trace_id, "032x")


def test_series_and_exemplars_pushed_to_a_real_prometheus(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/api/v1/write"
    collector = launch_collector(tmp_path, configure=with_remote_write(endpoint, expiration=6))
    try:
        prometheus = launch_prometheus(
            tmp_path, collector.metrics_port, ["--web.enable-remote-write-receiver"], port=port
        )
        try:
            trace_id = send_metrics(collector)
            # job/instance as the resource says: pushed series are not renamed by a scrape.
            pushed = 'predictions_total{job="ml/scorer", instance="w1", model="churn"}'
            wait_until(lambda: prometheus.query(pushed), timeout=30, what="pushed counter in Prometheus")
            assert prometheus.query(pushed)[0]["value"][1] == "5"
            buckets = {
                series["metric"]["le"]: series["value"][1]
                for series in prometheus.query('latency_seconds_bucket{job="ml/scorer"}')
            }
            assert buckets == {"0.1": "1", "1.0": "3", "+Inf": "4"}
            [p50] = prometheus.query('histogram_quantile(0.5, latency_seconds_bucket{job="ml/scorer"})')
            assert float(p50["value"][1]) == pytest.approx(0.55)  # rank 2 of 4, linear in (0.1, 1.0]
            response = httpx.get(
                f"{prometheus.url}/api/v1/query_exemplars",
                params={"query": 'predictions_total{job="ml/scorer"}', "start": time.time() - 600,
                        "end": time.time() + 60},
            )  # fmt: skip
            exemplars = [e for s in response.json()["data"] for e in s["exemplars"]]
            assert exemplars and exemplars[0]["labels"]["trace_id"] == trace_id
            assert collector.value("modeltel_remote_write_requests_total", outcome="sent") >= 1
            # Idle past metric_expiration_seconds: a staleness marker ends the series at once,
            # where without one Prometheus would keep returning it for its 5-minute lookback.
            wait_until(lambda: not prometheus.query(pushed), timeout=30, what="the expired series gone")
            assert not prometheus.query('latency_seconds_count{job="ml/scorer"}')
        finally:
            prometheus.process.stop()
    finally:
        collector.process.stop()


class RemoteWriteCapture(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers), body))  # type: ignore[attr-defined]
        answers = self.server.answers  # type: ignore[attr-defined]
        status, headers = answers.pop(0) if answers else (204, {})
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), RemoteWriteCapture)
    server.requests, server.answers = [], [(503, {"Retry-After": "0.2"}), (429, {}), (204, {}), (400, {})]  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_retries_on_503_and_429_then_drops_on_400(capture: ThreadingHTTPServer, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{capture.server_address[1]}/receive"
    collector = launch_collector(tmp_path, configure=with_remote_write(endpoint))
    try:
        send_metrics(collector)
        wait_until(
            lambda: collector.value("modeltel_remote_write_requests_total", outcome="dropped") == 1,
            what="the 400 counted as dropped",
        )
        assert collector.value("modeltel_remote_write_requests_total", outcome="retried") == 2
        assert collector.value("modeltel_remote_write_requests_total", outcome="sent") >= 1
    finally:
        collector.process.stop()
    requests = capture.requests  # type: ignore[attr-defined]
    assert requests[0][1] == requests[1][1] == requests[2][1]  # the same push, resent
    headers, body = requests[0]
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    request = prompb.WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))
    series = {
        tuple((label.name, label.value) for label in ts.labels): ts.samples[0].value
        for ts in request.timeseries
    }
    key = (("__name__", "predictions_total"), ("instance", "w1"), ("job", "ml/scorer"), ("model", "churn"))
    assert series[key] == 5
    for labels in series:
        assert list(labels) == sorted(labels), "labels must be sorted by name"
    assert {m.metric_family_name: m.type for m in request.metadata}["latency_seconds"] == (
        prompb.MetricMetadata.HISTOGRAM
    )
