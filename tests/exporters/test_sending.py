"""Queue, retries and backpressure of a running collector against a Loki backend that fails.

"Acknowledged" means the collector answered the export request with success; with a
persistent queue that happens only after the batch is committed to the queue's SQLite WAL.
"""

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.collector.otlp_batches import prediction_batch
from tests.conftest import Collector, free_port, launch_collector, wait_until
from tests.exporters.capture import (
    STALL,
    CaptureServer,
    otlp_log_records,
    otlp_logs_problems,
    otlp_prediction_ids,
)

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def loki_pipeline(endpoint: str, **settings: object) -> Callable[[dict], None]:
    def customize(config: dict) -> None:
        config["exporters"]["loki"] = {"endpoint": endpoint, **settings}
        config["service"]["pipelines"]["logs"]["exporters"] = ["loki"]

    return customize


def numbered_batch(rows: int, first: int) -> ExportLogsServiceRequest:
    """Prediction records with distinct prediction ids first, first+1, ... (32 hex digits)."""
    batch = prediction_batch(rows, features=5, seed=first)
    for offset, record in enumerate(batch.resource_logs[0].scope_logs[0].log_records):
        record.attributes[0].value.string_value = f"{first + offset:032x}"
    return batch


def ids(first: int, rows: int) -> set[str]:
    return {f"{n:032x}" for n in range(first, first + rows)}


def post(collector: Collector, batch: ExportLogsServiceRequest) -> httpx.Response:
    return httpx.post(
        f"{collector.otlp_http}/v1/logs", content=batch.SerializeToString(), headers=PROTOBUF, timeout=10
    )


def delivered_ids(loki: CaptureServer) -> set[str]:
    return set().union(*(otlp_prediction_ids(r) for r in loki.requests)) if loki.requests else set()


def test_without_persistent_queue_an_outage_past_max_elapsed_time_is_counted_as_drops(tmp_path) -> None:
    port = free_port()  # nothing listens: the backend is down
    retry = {"initial_interval": 0.1, "max_interval": 0.2, "max_elapsed_time": 1}
    collector = launch_collector(
        tmp_path, configure=loki_pipeline(f"http://127.0.0.1:{port}", retry_on_failure=retry)
    )
    try:
        assert post(collector, numbered_batch(7, 0)).status_code == 200
        wait_until(
            lambda: collector.value("modeltel_exporter_dropped_total", reason="retries_exhausted") == 7,
            what="drops after max_elapsed_time",
        )
        assert collector.value("modeltel_exporter_failed_total", exporter="loki") >= 14
        assert "giving up on 7 log records" in collector.process.log()
    finally:
        collector.process.stop()


def test_memory_queue_rides_out_a_short_outage(tmp_path) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs"))  # not started yet: down
    retry = {"initial_interval": 0.1, "max_interval": 0.3, "max_elapsed_time": 60}
    collector = launch_collector(tmp_path, configure=loki_pipeline(loki.url, retry_on_failure=retry))
    try:
        assert post(collector, numbered_batch(5, 0)).status_code == 200
        wait_until(lambda: collector.value("modeltel_exporter_failed_total", exporter="loki") >= 5)
        assert collector.value("modeltel_exporter_queue_size", exporter="loki") == 1
        loki.start()
        loki.wait_for_records(5, otlp_log_records)
        assert delivered_ids(loki) == ids(0, 5)
        assert collector.value("modeltel_exporter_dropped_total", exporter="loki") == 0
        log = collector.process.log()
        assert log.count("send failed") == 1, "an absent backend is reported once a minute, not per retry"
    finally:
        collector.process.stop()
        loki.stop()


def test_persistent_queue_keeps_acknowledged_records_across_a_restart(tmp_path) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs"))  # down until after the restart
    settings = {
        "retry_on_failure": {"initial_interval": 0.1, "max_interval": 0.5, "max_elapsed_time": 0},
        "sending_queue": {"storage": {"directory": str(tmp_path / "state")}},
    }
    first = launch_collector(tmp_path, configure=loki_pipeline(loki.url, **settings), name="first")
    ports = (first.grpc_port, first.http_port, first.metrics_port)
    for batch in range(4):
        assert post(first, numbered_batch(10, batch * 10)).status_code == 200
    assert first.value("modeltel_exporter_queue_size", exporter="loki") == 4
    assert first.process.stop() == 0
    assert "4 queued requests kept on disk" in first.process.log()
    assert (tmp_path / "state" / "loki.sqlite").exists()

    loki.start()
    second = launch_collector(
        tmp_path, configure=loki_pipeline(loki.url, **settings), name="second", ports=ports
    )
    try:
        loki.wait_for_records(40, otlp_log_records)
        assert delivered_ids(loki) == ids(0, 40)
        wait_until(lambda: second.value("modeltel_exporter_queue_size", exporter="loki") == 0)
        assert second.value("modeltel_exporter_dropped_total") == 0
    finally:
        second.process.stop()
        loki.stop()


def test_kill_9_mid_stream_loses_no_acknowledged_record(tmp_path) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs")).start()
    loki.script.extend([(503, {})] * 20)  # a slow start keeps a backlog in the queue
    settings = {
        "retry_on_failure": {"initial_interval": 0.05, "max_interval": 0.2, "max_elapsed_time": 0},
        "sending_queue": {"storage": {"directory": str(tmp_path / "state")}, "queue_size": 10_000},
    }
    first = launch_collector(tmp_path, configure=loki_pipeline(loki.url, **settings), name="first")
    ports = (first.grpc_port, first.http_port, first.metrics_port)
    acknowledged: set[str] = set()
    stop = threading.Event()

    def stream() -> None:
        number = 0
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                body = numbered_batch(20, number).SerializeToString()
                try:
                    response = client.post(f"{first.otlp_http}/v1/logs", content=body, headers=PROTOBUF)
                except httpx.HTTPError:
                    return  # the collector died mid-request: that batch was never acknowledged
                if response.status_code == 200:
                    acknowledged.update(ids(number, 20))
                number += 20

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        wait_until(lambda: len(acknowledged) >= 400, what="a stream of acknowledged batches")
        os.kill(first.process.popen.pid, signal.SIGKILL)
        first.process.popen.wait(10)
    finally:
        stop.set()
        sender.join(10)
    second = launch_collector(
        tmp_path, configure=loki_pipeline(loki.url, **settings), name="second", ports=ports
    )
    try:
        wait_until(lambda: acknowledged <= delivered_ids(loki), timeout=60, what="every acknowledged record")
        assert loki.problems == []
    finally:
        second.process.stop()
        loki.stop()


@pytest.fixture
def congested(tmp_path: Path):
    """A collector whose one-request queue is stuck on a backend that is down."""
    retry = {"initial_interval": 2, "max_elapsed_time": 0}
    collector = launch_collector(
        tmp_path,
        configure=loki_pipeline(
            f"http://127.0.0.1:{free_port()}",
            retry_on_failure=retry,
            sending_queue={"queue_size": 1, "num_consumers": 1},
        ),
    )
    assert post(collector, numbered_batch(3, 0)).status_code == 200  # fills the queue
    yield collector
    collector.process.stop()


def test_full_queue_is_http_503_with_retry_after(congested: Collector) -> None:
    response = post(congested, numbered_batch(3, 3))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    status = status_pb2.Status.FromString(response.content)
    assert "sending queue is full" in status.message
    assert congested.value("modeltel_receiver_refused_total", transport="http", signal="logs") == 3
    assert congested.value("modeltel_receiver_accepted_total", transport="http", signal="logs") == 3


def test_full_queue_is_grpc_unavailable_with_retry_info(congested: Collector) -> None:
    with grpc.insecure_channel(congested.otlp_grpc) as channel, pytest.raises(grpc.RpcError) as raised:
        logs_service_pb2_grpc.LogsServiceStub(channel).Export(numbered_batch(4, 10), timeout=10)
    error = raised.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    trailers = dict(error.trailing_metadata())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert info.retry_delay.seconds == 1
    assert congested.value("modeltel_receiver_refused_total", transport="grpc", signal="logs") == 4


def test_a_hanging_backend_times_out_and_is_retried(tmp_path) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs")).start()
    loki.script.append((STALL, {"seconds": "5"}))
    retry = {"initial_interval": 0.05, "max_interval": 0.1}
    collector = launch_collector(
        tmp_path, configure=loki_pipeline(loki.url, timeout=0.5, retry_on_failure=retry)
    )
    try:
        assert post(collector, numbered_batch(3, 0)).status_code == 200
        loki.wait_for_records(3, otlp_log_records, timeout=4)  # well before the stalled answer
        assert collector.value("modeltel_exporter_failed_total", exporter="loki") == 3
    finally:
        collector.process.stop()
        loki.stop()


def test_without_a_queue_delivery_is_synchronous_and_failure_is_refused(tmp_path) -> None:
    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs")).start()
    settings = {
        "sending_queue": {"enabled": False},
        "retry_on_failure": {"initial_interval": 0.05, "max_elapsed_time": 0.3},
    }
    collector = launch_collector(tmp_path, configure=loki_pipeline(loki.url, **settings))
    try:
        assert post(collector, numbered_batch(3, 0)).status_code == 200
        assert delivered_ids(loki) == ids(0, 3)  # delivered before the answer
        loki.stop()
        response = post(collector, numbered_batch(2, 3))
        assert response.status_code == 503 and "delivery failed" in response.text
        assert collector.value("modeltel_receiver_refused_total", signal="logs") == 2
        assert collector.value("modeltel_exporter_dropped_total", exporter="loki") == 0  # the sender has it
    finally:
        collector.process.stop()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_sdk_exporters_retry_through_backpressure_and_nothing_is_lost(tmp_path, transport: str) -> None:
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    loki = CaptureServer(otlp_logs_problems("/otlp/v1/logs"))  # down for the first second
    settings = {
        "retry_on_failure": {"initial_interval": 1, "max_interval": 1, "max_elapsed_time": 0},
        "sending_queue": {"queue_size": 1, "num_consumers": 1},
    }
    collector = launch_collector(tmp_path, configure=loki_pipeline(loki.url, **settings))
    if transport == "http":
        exporter = HttpLogExporter(endpoint=f"{collector.otlp_http}/v1/logs", timeout=20)
    else:
        exporter = GrpcLogExporter(endpoint=collector.otlp_grpc, insecure=True, timeout=20)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("backpressure")
    backend_returns = threading.Timer(1.0, loki.start)
    try:
        logger.emit(body="first")  # queued; the exporter keeps retrying the absent backend
        backend_returns.start()
        logger.emit(body="second")  # refused while the queue is full; the SDK backs off and retries
        loki.wait_for_records(2, otlp_log_records)
        assert collector.value("modeltel_receiver_refused_total", transport=transport) >= 1
        assert collector.value("modeltel_receiver_accepted_total", transport=transport) == 2
        assert collector.value("modeltel_exporter_dropped_total") == 0
    finally:
        backend_returns.cancel()
        provider.shutdown()
        collector.process.stop()
        loki.stop()
