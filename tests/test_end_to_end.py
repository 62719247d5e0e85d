"""One environment variable → agent → collector → Prometheus text, with real processes."""

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import Collector, agent_env, clean_env, launch_model_server, wait_until

ROWS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.3, "petal_width": 1.3},
]


def send_predictions(url: str, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for index in range(count):
            response = client.post("/predict", json=ROWS[index % len(ROWS)])
            response.raise_for_status()
            ids.append(response.json()["prediction_id"])
    return ids


def http_server_request_count(collector: Collector) -> float:
    """Requests counted by the FastAPI RED histogram (stable HTTP semantic conventions)."""
    return collector.value(
        "http_server_request_duration_seconds_count", job="iris-test", http_route="/predict"
    )


def debug_batches(log: str, signal: str) -> list[dict]:
    return [json.loads(m.group(1)) for m in re.finditer(rf"{signal} batch: (\{{.*\}})$", log, re.MULTILINE)]


@pytest.mark.parametrize("workers", [1, 2])
def test_agent_enabled_by_env_var_reaches_collector(
    collector: Collector, tmp_path: Path, workers: int
) -> None:
    server = launch_model_server(tmp_path, agent_env(collector), workers=workers)
    try:
        ids = send_predictions(server.url, 30)
        assert len(set(ids)) == 30

        wait_until(
            lambda: (
                collector.value(
                    "modeltel_prediction_records_total", ml_model_name="iris-classifier", ml_model_version="1"
                )
                >= 30
            ),
            what="30 prediction records counted per model",
        )
        wait_until(lambda: http_server_request_count(collector) >= 30, what="RED metrics for 30 requests")
        wait_until(
            lambda: collector.value("modeltel_receiver_accepted_total", signal="traces") >= 30, what="spans"
        )
        # Exactly once: nothing lost, nothing duplicated across workers.
        assert collector.value("modeltel_prediction_records_total", ml_model_name="iris-classifier") == 30
        assert collector.value("modeltel_prediction_records_invalid_total") == 0
    finally:
        server.process.stop()
    assert "Traceback" not in server.process.log()


def test_otlp_grpc_when_the_standard_variables_say_so(collector: Collector, tmp_path: Path) -> None:
    env = agent_env(
        collector,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{collector.otlp_grpc}",
    )
    server = launch_model_server(tmp_path, env)
    try:
        send_predictions(server.url, 12)
        for signal in ("traces", "metrics", "logs"):
            wait_until(
                lambda signal=signal: collector.value(
                    "modeltel_receiver_accepted_total", signal=signal, transport="grpc"
                ),
                what=f"{signal} over gRPC",
            )
        wait_until(lambda: collector.value("modeltel_prediction_records_total") == 12, what="12 predictions")
        assert collector.value("modeltel_receiver_accepted_total", transport="http") == 0
    finally:
        server.process.stop()


def test_prediction_logs_carry_the_request_trace(detailed_collector: Collector, tmp_path: Path) -> None:
    server = launch_model_server(tmp_path, agent_env(detailed_collector))
    try:
        ids = send_predictions(server.url, 5)
        wait_until(
            lambda: (
                detailed_collector.value("modeltel_receiver_accepted_total", signal="traces") >= 5
                and detailed_collector.value("modeltel_prediction_records_total") >= 5
            ),
            what="spans and prediction logs",
        )
    finally:
        server.process.stop()

    log = detailed_collector.process.log()
    request_spans = {
        span["traceId"]: span
        for batch in debug_batches(log, "traces")
        for resource in batch["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
        if span["name"] == "POST /predict"
    }
    names = {
        span["name"]
        for batch in debug_batches(log, "traces")
        for resource in batch["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    }
    assert not any(name.endswith((" http receive", " http send")) for name in names), names

    records = [
        record
        for batch in debug_batches(log, "logs")
        for resource in batch["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
        if record.get("eventName") == "modeltel.prediction"
    ]
    assert len(records) == 5
    for record in records:
        attributes = {a["key"]: a["value"]["stringValue"] for a in record["attributes"]}
        assert attributes["ml.model.name"] == "iris-classifier"
        assert attributes["ml.model.version"] == "1"
        assert attributes["modeltel.prediction.id"] in ids
        body = json.loads(record["body"]["stringValue"])
        assert set(body["features"]) == set(ROWS[0])
        assert body["prediction"] in body["probabilities"]
        # The span the prediction was recorded in is the request's (ids in OTLP/JSON hex).
        assert record["traceId"] in request_spans, "prediction log not correlated with its request span"
        assert len(record["traceId"]) == 32 and len(record["spanId"]) == 16


def test_agent_off_without_env_var(collector: Collector, tmp_path: Path) -> None:
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http, OTEL_METRIC_EXPORT_INTERVAL="500")
    server = launch_model_server(tmp_path, env)
    try:
        send_predictions(server.url, 10)
    finally:
        server.process.stop()
    # The server flushed and exited: anything it would have sent has been sent.
    assert collector.value("modeltel_receiver_accepted_total") == 0
