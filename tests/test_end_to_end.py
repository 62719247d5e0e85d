"""One environment variable → agent → collector → Prometheus text, with real processes.

The example server has no monitoring code; everything below comes from ``MODELTEL_ENABLED=1``.
"""

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    Collector,
    agent_env,
    attribute_map,
    clean_env,
    exported_log_records,
    exported_spans,
    launch_model_server,
    launch_prometheus,
    wait_until,
)

ROWS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.3, "petal_width": 1.3},
]
MODEL = {"MODELTEL_MODEL_NAME": "iris-classifier", "MODELTEL_MODEL_VERSION": "1"}


def send_predictions(url: str, count: int) -> list[str]:
    """Prediction ids from the ``x-modeltel-prediction-id`` response header."""
    ids = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for index in range(count):
            response = client.post("/predict", json=ROWS[index % len(ROWS)])
            response.raise_for_status()
            ids.extend(response.headers.get("x-modeltel-prediction-id", "").split(","))
    return [i for i in ids if i]


@pytest.mark.parametrize("workers", [1, 2])
def test_agent_enabled_by_env_var_reaches_collector(
    collector: Collector, tmp_path: Path, workers: int
) -> None:
    server = launch_model_server(tmp_path, agent_env(collector, **MODEL), workers=workers)
    try:
        ids = send_predictions(server.url, 30)
        assert len(set(ids)) == 30 and all(len(i) == 32 for i in ids)
        model = {"ml_model_name": "iris-classifier", "ml_model_version": "1"}
        wait_until(
            lambda: collector.value("modeltel_prediction_records_total", **model) >= 30,
            what="30 prediction records counted per model",
        )
        red = {"job": "iris-test", "http_route": "/predict"}
        wait_until(
            lambda: collector.value("http_server_request_duration_seconds_count", **red) >= 30,
            what="RED metrics for 30 requests",
        )
        wait_until(
            lambda: collector.value("modeltel_model_inference_duration_seconds_count", **model) >= 30,
            what="inference latency",
        )
        wait_until(
            lambda: collector.value("modeltel_model_predictions_total", **model) >= 30,
            what="predictions by class",
        )
        by_class = {
            s.labels["ml_model_predicted_class"]: s.value
            for s in collector.samples()
            if s.name == "modeltel_model_predictions_total"
        }
        assert set(by_class) <= {"setosa", "versicolor", "virginica"} and sum(by_class.values()) == 30
        assert collector.value("process_cpu_time_seconds_total", job="iris-test") > 0
        assert collector.value("process_memory_usage_bytes", job="iris-test") > 10_000_000
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


def test_prediction_logs_name_features_and_carry_the_request_trace(
    detailed_collector: Collector, tmp_path: Path
) -> None:
    server = launch_model_server(tmp_path, agent_env(detailed_collector, **MODEL))
    try:
        ids = send_predictions(server.url, 5)
        wait_until(
            lambda: (
                detailed_collector.value("modeltel_receiver_accepted_total", signal="traces") >= 10
                and detailed_collector.value("modeltel_prediction_records_total") >= 5
            ),
            what="spans and prediction logs",
        )
    finally:
        server.process.stop()

    log = detailed_collector.process.log()
    spans = [span for _, span in exported_spans(log)]
    requests = {span["traceId"]: span for span in spans if span["name"] == "POST /predict"}
    model_spans = [span for span in spans if span["name"] == "model.predict"]
    assert len(requests) == 5 and len(model_spans) == 5
    for span in model_spans:
        parent = requests[span["traceId"]]
        assert span["parentSpanId"] == parent["spanId"]
        attributes = attribute_map(span["attributes"])
        assert attributes["ml.model.name"] == "iris-classifier" and attributes["ml.model.batch_size"] == "1"
    assert all(attribute_map(span["attributes"])["http.route"] == "/predict" for span in requests.values())

    records = [
        record for _, record in exported_log_records(log) if record.get("eventName") == "modeltel.prediction"
    ]
    assert len(records) == 5
    assert {attribute_map(r["attributes"])["modeltel.prediction.id"] for r in records} == set(ids)
    for record in records:
        attributes = attribute_map(record["attributes"])
        assert attributes["ml.model.name"] == "iris-classifier" and attributes["ml.model.version"] == "1"
        assert attributes["modeltel.sample_rate"] == 1.0
        body = json.loads(record["body"]["stringValue"])
        # Named after the request's pydantic model, although the handler passed an unnamed row.
        assert list(body["features"]) == list(ROWS[0])
        assert body["prediction"] in body["probabilities"]
        assert record["traceId"] in requests, "prediction log not correlated with its request span"
        assert record["spanId"] in {span["spanId"] for span in model_spans}


def test_agent_off_without_env_var(collector: Collector, tmp_path: Path) -> None:
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=collector.otlp_http, OTEL_METRIC_EXPORT_INTERVAL="500")
    server = launch_model_server(tmp_path, env)
    try:
        ids = send_predictions(server.url, 10)
    finally:
        server.process.stop()
    # The server flushed and exited: anything it would have sent has been sent.
    assert ids == []
    assert collector.value("modeltel_receiver_accepted_total") == 0


def test_latency_exemplars_lead_from_prometheus_to_the_request_traces(
    detailed_collector: Collector, tmp_path: Path
) -> None:
    prometheus = launch_prometheus(tmp_path, detailed_collector.metrics_port)
    server = launch_model_server(tmp_path, agent_env(detailed_collector, **MODEL))
    try:
        send_predictions(server.url, 20)

        def exemplar_trace_ids(metric: str) -> set[str]:
            response = httpx.get(
                f"{prometheus.url}/api/v1/query_exemplars",
                params={"query": metric, "start": time.time() - 600, "end": time.time() + 60},
                timeout=10,
            )
            response.raise_for_status()
            return {
                exemplar["labels"]["trace_id"]
                for series in response.json()["data"]
                for exemplar in series["exemplars"]
            }

        wait_until(
            lambda: exemplar_trace_ids("http_server_request_duration_seconds_bucket"), timeout=40,
            what="request-latency exemplars in Prometheus",
        )  # fmt: skip
        wait_until(
            lambda: exemplar_trace_ids("modeltel_model_inference_duration_seconds_bucket"), timeout=40,
            what="inference-latency exemplars in Prometheus",
        )  # fmt: skip
        request_exemplars = exemplar_trace_ids("http_server_request_duration_seconds_bucket")
        inference_exemplars = exemplar_trace_ids("modeltel_model_inference_duration_seconds_bucket")
    finally:
        server.process.stop()
        prometheus.process.stop()
    traces = {span["traceId"] for _, span in exported_spans(detailed_collector.process.log())}
    assert request_exemplars <= traces and inference_exemplars <= traces


def test_partial_sampling_keeps_exactly_the_sampled_ids_and_counts_every_prediction(
    detailed_collector: Collector, tmp_path: Path
) -> None:
    """At 30%, most requests take the dropped-trace path: their ids still come back, none of
    them is logged or traced, and every prediction is still counted and timed."""
    from modeltel.agent.sampling import is_sampled

    env = agent_env(detailed_collector, **MODEL, MODELTEL_SAMPLE_RATE="0.3")
    server = launch_model_server(tmp_path, env)
    try:
        ids = send_predictions(server.url, 60)
        kept = {i for i in ids if is_sampled(i, 0.3)}
        assert len(set(ids)) == 60 and 0 < len(kept) < 60
        model = {"ml_model_name": "iris-classifier", "ml_model_version": "1"}
        wait_until(
            lambda: (
                detailed_collector.value("modeltel_model_inference_duration_seconds_count", **model) == 60
                and detailed_collector.value("modeltel_model_predictions_total", **model) == 60
                and detailed_collector.value("modeltel_prediction_records_total", **model) == len(kept)
            ),
            what="every call timed and counted, the sampled ones logged",
        )
        time.sleep(1.5)  # a late record or span of a dropped request would arrive by now
    finally:
        server.process.stop()
    log = detailed_collector.process.log()
    records = [r for _, r in exported_log_records(log) if r.get("eventName") == "modeltel.prediction"]
    assert {attribute_map(r["attributes"])["modeltel.prediction.id"] for r in records} == kept
    assert len(records) == len(kept)
    spans = [span for _, span in exported_spans(log)]
    requests = {span["traceId"] for span in spans if span["name"] == "POST /predict"}
    model_spans = [span for span in spans if span["name"] == "model.predict"]
    assert len(requests) == len(model_spans) == len(kept)  # a trace exactly for each kept prediction
    assert {r["traceId"] for r in records} == requests
    by_class = [s.value for s in detailed_collector.samples() if s.name == "modeltel_model_predictions_total"]
    assert sum(by_class) == 60
    assert "Traceback" not in server.process.log()
