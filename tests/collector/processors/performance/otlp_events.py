"""OTLP prediction and label records with chosen ids, built with the protobuf classes, and
helpers to send them and to read the performance processor's answers."""

import httpx
import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.collector.otlp_batches import attribute, logs_request
from tests.conftest import Collector

NS = 1_000_000_000


def prediction(
    prediction_id: str,
    predicted: object,
    time_ns: int,
    probabilities: dict | list | None = None,
    model: str = "m",
    version: str = "1",
    features: dict | None = None,
    attributes: dict[str, str] | None = None,
    sample_rate: float | None = None,
) -> LogRecord:
    body: dict = {"features": features or {}, "prediction": predicted}
    if probabilities is not None:
        body["probabilities"] = probabilities
    record = LogRecord(
        time_unix_nano=time_ns,
        event_name="modeltel.prediction",
        body=AnyValue(string_value=orjson.dumps(body).decode()),
        attributes=[
            attribute("modeltel.prediction.id", prediction_id),
            attribute("ml.model.name", model),
            attribute("ml.model.version", version),
            *(attribute(k, v) for k, v in (attributes or {}).items()),
        ],
    )
    if sample_rate is not None:
        record.attributes.append(
            KeyValue(key="modeltel.sample_rate", value=AnyValue(double_value=sample_rate))
        )
    return record


def label(prediction_id: str, value: object, time_ns: int, body: str | None = None) -> LogRecord:
    return LogRecord(
        time_unix_nano=time_ns,
        event_name="modeltel.label",
        body=AnyValue(string_value=body if body is not None else orjson.dumps({"label": value}).decode()),
        attributes=[attribute("modeltel.prediction.id", prediction_id)],
    )


def send(collector: Collector, records: list[LogRecord]) -> None:
    response = httpx.post(
        f"{collector.otlp_http}/v1/logs",
        content=logs_request(records).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def api(collector: Collector, path: str) -> str:
    return f"http://127.0.0.1:{collector.metrics_port}/api/v1/{path}"


def with_performance(**settings: object):
    """A launch_collector ``configure`` hook: the performance processor in the logs pipeline."""

    def configure(config: dict) -> None:
        config["processors"]["performance"] = {"evaluation_interval": "200ms", "windows": ["1h", "30d"],
                                               **settings}  # fmt: skip
        config["service"]["pipelines"]["logs"]["processors"] = ["predictions", "performance"]

    return configure
