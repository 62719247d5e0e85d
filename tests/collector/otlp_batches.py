"""Real OTLP batches for collector tests, built with the protobuf classes and seeded numpy."""

import numpy as np
import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource


def attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def prediction_record(
    features: dict,
    prediction: object,
    model: str | None = "churn",
    version: str | None = "3",
    body: str | None = None,
    event_name: str | None = "modeltel.prediction",
    legacy_event_attribute: bool = False,
    sample_rate: float | str | None = None,
    time_unix_nano: int = 1_700_000_000_000_000_000,
    trace_id: bytes = bytes(range(16)),
    probabilities: dict | list | None = None,
) -> LogRecord:
    attributes = [attribute("modeltel.prediction.id", "0" * 32)]
    if isinstance(sample_rate, str):
        attributes.append(attribute("modeltel.sample_rate", sample_rate))
    elif sample_rate is not None:
        attributes.append(KeyValue(key="modeltel.sample_rate", value=AnyValue(double_value=sample_rate)))
    payload: dict = {"features": features, "prediction": prediction}
    if probabilities is not None:
        payload["probabilities"] = probabilities
    if model is not None:
        attributes.append(attribute("ml.model.name", model))
    if version is not None:
        attributes.append(attribute("ml.model.version", version))
    record = LogRecord(
        time_unix_nano=time_unix_nano,
        severity_number=9,
        body=AnyValue(string_value=body if body is not None else orjson.dumps(payload).decode()),
        attributes=attributes,
        trace_id=trace_id,
        span_id=bytes(range(8)),
    )  # fmt: skip
    if legacy_event_attribute:
        record.attributes.append(attribute("event.name", "modeltel.prediction"))
    elif event_name is not None:
        record.event_name = event_name
    return record


def logs_request(records: list[LogRecord], service: str = "svc") -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=[attribute("service.name", service)]),
                scope_logs=[ScopeLogs(log_records=records)],
            )
        ]
    )


def prediction_batch(
    rows: int, features: int = 25, seed: int = 0, model: str = "churn"
) -> ExportLogsServiceRequest:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, features)).round(4)
    names = [f"feature_{i}" for i in range(features)]
    return logs_request(
        [
            prediction_record(dict(zip(names, row.tolist(), strict=True)), int(row[0] > 0), model=model)
            for row in values
        ]
    )
