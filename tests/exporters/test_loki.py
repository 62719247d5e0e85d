"""``loki`` exporter in a running collector against capture servers speaking Loki's documented APIs."""

from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.collector.otlp_batches import logs_request, prediction_batch, prediction_record
from tests.conftest import Collector, launch_collector, launch_prometheus, wait_until
from tests.exporters.capture import (
    CaptureServer,
    is_hex,
    loki_push_problems,
    otlp_log_records,
    otlp_logs_problems,
    push_records,
)

PROTOBUF = {"Content-Type": "application/x-protobuf"}
FAST_RETRY = {"initial_interval": 0.05, "max_interval": 0.2, "max_elapsed_time": 30}


def logs_to(exporter_id: str, settings: dict) -> Callable[[dict], None]:
    def customize(config: dict) -> None:
        config["exporters"][exporter_id] = settings
        config["service"]["pipelines"]["logs"]["exporters"] = [exporter_id]

    return customize


def send_logs(collector: Collector, batch: ExportLogsServiceRequest) -> httpx.Response:
    return httpx.post(
        f"{collector.otlp_http}/v1/logs", content=batch.SerializeToString(), headers=PROTOBUF, timeout=10
    )


@pytest.fixture
def capture_stop() -> Iterator[list[CaptureServer]]:
    servers: list[CaptureServer] = []
    yield servers
    for server in servers:
        server.stop()


def test_otlp_protocol_forwards_protobuf_to_loki3_with_tenant(tmp_path, capture_stop) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs")).start()
    capture_stop.append(loki)
    collector = launch_collector(
        tmp_path, configure=logs_to("loki", {"endpoint": loki.url, "tenant_id": "team-a"})
    )
    try:
        for seed in range(3):
            assert send_logs(collector, prediction_batch(20, seed=seed)).status_code == 200
        loki.wait_for_records(60, otlp_log_records)
        assert loki.problems == []
        assert {r.headers["X-Scope-OrgID"] for r in loki.requests} == {"team-a"}
        forwarded = ExportLogsServiceRequest.FromString(loki.requests[0].body)
        record = forwarded.resource_logs[0].scope_logs[0].log_records[0]
        assert orjson.loads(record.body.string_value)["features"]["feature_0"] == pytest.approx(0.1257)
        assert record.trace_id == bytes(range(16))
        wait_until(lambda: collector.value("modeltel_exporter_sent_total", exporter="loki") == 60)
        assert collector.value("modeltel_exporter_dropped_total", exporter="loki") == 0
        assert collector.value("modeltel_exporter_queue_size", exporter="loki") == 0
    finally:
        collector.process.stop()


def test_push_protocol_sends_low_cardinality_streams_with_structured_metadata(tmp_path, capture_stop) -> None:
    loki = CaptureServer(loki_push_problems).start()
    capture_stop.append(loki)
    settings = {"endpoint": loki.url, "protocol": "push", "compression": "gzip"}
    collector = launch_collector(tmp_path, configure=logs_to("loki", settings))
    try:
        warning = prediction_record({"a": 1.0}, 1, model="fraud")
        warning.severity_number, warning.trace_id, warning.span_id = 13, b"", b""
        plain = LogRecord(time_unix_nano=5, severity_text="ERROR")
        plain.body.string_value = "disk full"
        batch = logs_request([prediction_record({"a": 1.0}, 0), warning, plain], service="iris")
        assert send_logs(collector, batch).status_code == 200
        loki.wait_for_records(3, push_records)
        assert loki.problems == []
        request = loki.requests[0]
        assert request.headers["Content-Encoding"] == "gzip"
        streams = {
            tuple(sorted(s["stream"].items())): s["values"] for s in orjson.loads(request.body)["streams"]
        }
        info = streams[(("level", "info"), ("ml_model_name", "churn"), ("service_name", "iris"))]
        timestamp, line, metadata = info[0]
        assert timestamp == "1700000000000000000"
        assert orjson.loads(line) == {"features": {"a": 1.0}, "prediction": 0}
        assert is_hex(metadata["trace_id"], 32) and is_hex(metadata["span_id"], 16)
        assert metadata["prediction_id"] == "0" * 32
        assert metadata["ml_model_version"] == "3"
        warn = streams[(("level", "warn"), ("ml_model_name", "fraud"), ("service_name", "iris"))]
        assert "trace_id" not in warn[0][2]
        assert streams[(("level", "error"), ("service_name", "iris"))] == [["5", "disk full"]]
    finally:
        collector.process.stop()


def test_retries_429_and_503_honouring_retry_after_and_delivers_once(tmp_path, capture_stop) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs")).start()
    capture_stop.append(loki)
    loki.script.extend([(429, {"Retry-After": "1"}), (503, {}), (500, {})])
    settings = {"endpoint": loki.url, "retry_on_failure": FAST_RETRY}
    collector = launch_collector(tmp_path, configure=logs_to("loki", settings))
    try:
        assert send_logs(collector, prediction_batch(10)).status_code == 200
        loki.wait_for_records(10, otlp_log_records)
        assert len(loki.requests) == 1  # delivered once, after three refusals
        wait_until(lambda: collector.value("modeltel_exporter_sent_total", exporter="loki") == 10)
        assert collector.value("modeltel_exporter_failed_total", exporter="loki") == 30
        assert collector.value("modeltel_exporter_dropped_total", exporter="loki") == 0
    finally:
        collector.process.stop()


def test_permanent_refusal_is_counted_as_dropped(tmp_path, capture_stop) -> None:
    loki = CaptureServer(loki_push_problems).start()  # the push validator refuses OTLP with 400
    capture_stop.append(loki)
    collector = launch_collector(tmp_path, configure=logs_to("loki", {"endpoint": loki.url}))
    try:
        assert send_logs(collector, prediction_batch(4)).status_code == 200
        wait_until(
            lambda: (
                collector.value("modeltel_exporter_dropped_total", exporter="loki", reason="permanent_error")
                == 4
            )
        )
        assert loki.requests == []
    finally:
        collector.process.stop()


def test_exporter_and_receiver_self_metrics_are_scraped_by_a_real_prometheus(tmp_path, capture_stop) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs")).start()
    capture_stop.append(loki)
    collector = launch_collector(tmp_path, configure=logs_to("loki", {"endpoint": loki.url}))
    prometheus = launch_prometheus(tmp_path, collector.metrics_port)
    try:
        assert send_logs(collector, prediction_batch(8)).status_code == 200
        loki.wait_for_records(8, otlp_log_records)

        def scraped(promql: str) -> float:
            result = prometheus.query(promql)
            return float(result[0]["value"][1]) if result else -1.0

        wait_until(lambda: scraped('modeltel_exporter_sent_total{exporter="loki",signal="logs"}') == 8)
        assert scraped('modeltel_exporter_queue_size{exporter="loki"}') == 0
        assert scraped('sum(modeltel_exporter_dropped_total{exporter="loki"})') == 0  # present at 0
        assert scraped('modeltel_exporter_queue_capacity{exporter="loki"}') == 256
        assert scraped('sum(modeltel_receiver_accepted_total{signal="logs"})') == 8
        assert scraped('sum(modeltel_receiver_processing_seconds_count{signal="logs"})') == 1
    finally:
        prometheus.process.stop()
        collector.process.stop()
