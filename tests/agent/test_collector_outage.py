"""The model server keeps serving when the collector is down, slow, or comes back late."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import clean_env, free_port, launch_collector, launch_model_server, wait_until
from tests.test_end_to_end import MODEL, ROWS

REQUESTS = 100


def serve(url: str, count: int) -> list[float]:
    """Latency of each of ``count`` requests, all of which must succeed."""
    latencies = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for index in range(count):
            started = time.perf_counter()
            client.post("/predict", json=ROWS[index % len(ROWS)]).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


@pytest.fixture
def silent_endpoint() -> Iterator[int]:
    """Accepts connections (the kernel's backlog) and never answers: a hung collector."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def agent_env_to(endpoint: str, **extra: str) -> dict[str, str]:
    return clean_env(
        MODELTEL_ENABLED="1", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="iris-test",
        OTEL_BSP_SCHEDULE_DELAY="100", OTEL_BLRP_SCHEDULE_DELAY="100", OTEL_METRIC_EXPORT_INTERVAL="500",
        **MODEL, **extra,
    )  # fmt: skip


def test_collector_down_costs_requests_nothing(tmp_path: Path) -> None:
    server = launch_model_server(tmp_path, agent_env_to(f"http://127.0.0.1:{free_port()}"))
    try:
        latencies = serve(server.url, REQUESTS)
    finally:
        server.process.stop()
    # No request waited on an export (a connect timeout or backoff would take seconds).
    assert max(latencies) < 1.0, max(latencies)
    log = server.process.log()
    assert "Traceback" not in log
    # One warning per signal for the outage, not one per batch or per record.
    assert 1 <= log.count("modeltel cannot export") <= 3, log


def test_hung_collector_costs_requests_nothing(tmp_path: Path, silent_endpoint: int) -> None:
    env = agent_env_to(f"http://127.0.0.1:{silent_endpoint}", OTEL_EXPORTER_OTLP_TIMEOUT="2")
    server = launch_model_server(tmp_path, env)
    try:
        latencies = serve(server.url, REQUESTS)
    finally:
        server.process.stop()
    assert max(latencies) < 1.0, max(latencies)
    assert "Traceback" not in server.process.log()


def test_collector_that_comes_back_receives_what_was_queued(tmp_path: Path) -> None:
    ports = free_port(), free_port(), free_port()
    server = launch_model_server(tmp_path, agent_env_to(f"http://127.0.0.1:{ports[1]}"))
    collector = None
    try:
        serve(server.url, 20)
        time.sleep(1.0)  # exports are being refused and retried
        collector = launch_collector(tmp_path, ports=ports)
        wait_until(
            lambda: (
                collector.value("modeltel_prediction_records_total", ml_model_name="iris-classifier") == 20
            ),
            timeout=40,
            what="the 20 predictions made while the collector was down",
        )
        wait_until(
            lambda: (
                collector.value("modeltel_agent_dropped_total", job="iris-test") == 0
                and any(s.name == "modeltel_agent_dropped_total" for s in collector.samples())
            ),
            what="the drop counter, at zero",
        )
    finally:
        server.process.stop()
        if collector is not None:
            collector.process.stop()


def test_drops_beyond_the_queue_bound_are_counted(tmp_path: Path) -> None:
    ports = free_port(), free_port(), free_port()
    env = agent_env_to(
        f"http://127.0.0.1:{ports[1]}", OTEL_BLRP_MAX_QUEUE_SIZE="10", OTEL_BSP_MAX_QUEUE_SIZE="10"
    )
    server = launch_model_server(tmp_path, env)
    collector = None
    try:
        serve(server.url, 60)
        collector = launch_collector(tmp_path, ports=ports)
        wait_until(
            lambda: collector.value("modeltel_agent_dropped_total", job="iris-test", signal="logs") > 0,
            timeout=40,
            what="dropped prediction records counted",
        )
        received = collector.value("modeltel_prediction_records_total", ml_model_name="iris-classifier")
        dropped = collector.value("modeltel_agent_dropped_total", job="iris-test", signal="logs")
        wait_until(
            lambda: (
                collector.value("modeltel_prediction_records_total", ml_model_name="iris-classifier")
                + collector.value("modeltel_agent_dropped_total", job="iris-test", signal="logs")
                == 60
            ),
            timeout=40,
            what=f"every record delivered or counted as dropped (now {received} + {dropped})",
        )
    finally:
        server.process.stop()
        if collector is not None:
            collector.process.stop()
