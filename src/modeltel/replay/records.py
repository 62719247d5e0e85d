"""OTLP log records exactly as the agent writes them (docs/semconv.md), built in batches."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from modeltel import __version__
from modeltel.agent.predictions import encode_body
from modeltel.semconv import ATTR_MODEL_NAME, ATTR_MODEL_VERSION, ATTR_PREDICTION_ID

SCOPE = InstrumentationScope(name="modeltel.replay", version=__version__)
_INFO = SeverityNumber.SEVERITY_NUMBER_INFO


def _text(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def replay_resource(service_name: str, instance_id: str) -> Resource:
    return Resource(
        attributes=[_text("service.name", service_name), _text("service.instance.id", instance_id)]
    )


def prediction_bodies(features: list[dict[str, Any]], predictions: Sequence[Any] | None) -> list[str]:
    """JSON bodies of one batch; without a prediction column the prediction is ``null``."""
    if predictions is None:
        return [encode_body({"features": row, "prediction": None}) for row in features]
    return [
        encode_body({"features": row, "prediction": prediction})
        for row, prediction in zip(features, predictions, strict=True)
    ]


def label_bodies(labels: Sequence[Any]) -> list[str]:
    return [encode_body({"label": label}) for label in labels]


def event_request(
    resource: Resource,
    event_name: str,
    bodies: Sequence[str],
    ids: Sequence[str],
    times_ns: np.ndarray,
    observed_ns: int,
    model: str,
    version: str | None,
) -> ExportLogsServiceRequest:
    """One request holding an INFO record per body, with the model attributes and its prediction id.

    Each record starts as a copy of a template holding what all share: with upb protobuf that
    is about 3.5 times faster than building every record and its attributes from keywords.
    """
    template = LogRecord(
        observed_time_unix_nano=observed_ns,
        severity_number=_INFO,
        severity_text="INFO",
        event_name=event_name,
        attributes=[_text(ATTR_MODEL_NAME, model)],
    )
    if version is not None:
        template.attributes.append(_text(ATTR_MODEL_VERSION, version))
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(scope=SCOPE)])]
    )
    log_records = request.resource_logs[0].scope_logs[0].log_records
    for body, prediction_id, time_ns in zip(bodies, ids, times_ns.tolist(), strict=True):
        record = log_records.add()
        record.CopyFrom(template)
        record.time_unix_nano = time_ns
        record.body.string_value = body
        attribute = record.attributes.add()
        attribute.key = ATTR_PREDICTION_ID
        attribute.value.string_value = prediction_id
    return request
