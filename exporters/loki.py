"""``loki`` exporter: logs to Grafana Loki, natively over OTLP (Loki 3) or the push API (Loki 2.x).

``protocol: otlp`` (default) POSTs the OTLP/HTTP protobuf request unchanged to
``<endpoint>/otlp/v1/logs``: no per-record work here; Loki makes its default resource
attributes (``service.name`` → ``service_name``, ...) index labels and keeps record
attributes (``ml.model.name``, ``modeltel.prediction.id``), trace and span ids and
severity as structured metadata.

``protocol: push`` converts to the JSON push format of ``/loki/api/v1/push``: one stream
per {service_name, ml_model_name, level}, the record body as the line, and ``trace_id``,
``span_id``, ``prediction_id`` and ``ml_model_version`` as structured metadata (Loki >= 2.9,
``allow_structured_metadata``). Both send ``X-Scope-OrgID`` when ``tenant_id`` is set.
"""

import time
from collections import defaultdict
from typing import Literal

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from pydantic import Field

from modeltel.collector.component import Factory
from modeltel.collector.signals import Signal
from modeltel.exporters.sending import QueuedExporter, QueueSender, SendingConfig
from modeltel.exporters.transports import Compression, HttpTransport, TlsConfig
from modeltel.semconv import ATTR_MODEL_NAME, ATTR_MODEL_VERSION, ATTR_PREDICTION_ID

OTLP_PATH = "/otlp/v1/logs"
PUSH_PATH = "/loki/api/v1/push"
# Loki answers 429 when rate-limited and 5xx while ingesters are unavailable: both pass.
RETRYABLE_STATUSES = frozenset({429, *range(500, 600)})
_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")  # OTLP severity number ranges of 4


class LokiConfig(SendingConfig):
    endpoint: str = Field(default="http://127.0.0.1:3100", description="Loki's base URL.")
    protocol: Literal["otlp", "push"] = "otlp"
    tenant_id: str | None = Field(default=None, description="Sent as X-Scope-OrgID (multi-tenant Loki).")
    headers: dict[str, str] = {}
    compression: Compression = "none"
    tls: TlsConfig = TlsConfig()


def level_of(record: LogRecord) -> str:
    if record.severity_text:
        return record.severity_text.lower()
    number = record.severity_number
    return _LEVELS[min((number - 1) // 4, 5)] if number > 0 else "unknown"


def line_of(body: AnyValue) -> str:
    if body.WhichOneof("value") == "string_value":
        return body.string_value
    if body.WhichOneof("value") is None:
        return ""
    return orjson.dumps(json_format.MessageToDict(body)).decode()


def push_request(batch: ExportLogsServiceRequest) -> dict:
    """The Loki push API's JSON document for an OTLP logs request."""
    streams: dict[tuple[str, str, str], list[list]] = defaultdict(list)
    now = str(time.time_ns())
    for resource_logs in batch.resource_logs:
        service = next(
            (a.value.string_value for a in resource_logs.resource.attributes if a.key == "service.name"),
            "unknown_service",
        )
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes = {a.key: a.value.string_value for a in record.attributes}
                metadata = {}
                if record.trace_id:
                    metadata["trace_id"] = record.trace_id.hex()
                if record.span_id:
                    metadata["span_id"] = record.span_id.hex()
                if attributes.get(ATTR_PREDICTION_ID):
                    metadata["prediction_id"] = attributes[ATTR_PREDICTION_ID]
                if attributes.get(ATTR_MODEL_VERSION):
                    metadata["ml_model_version"] = attributes[ATTR_MODEL_VERSION]
                timestamp = record.time_unix_nano or record.observed_time_unix_nano
                entry = [str(timestamp) if timestamp else now, line_of(record.body)]
                if metadata:
                    entry.append(metadata)
                key = (service, attributes.get(ATTR_MODEL_NAME, ""), level_of(record))
                streams[key].append(entry)
    return {
        "streams": [
            {"stream": _labels(service, model, level), "values": values}
            for (service, model, level), values in streams.items()
        ]
    }


def _labels(service: str, model: str, level: str) -> dict[str, str]:
    labels = {"service_name": service, "level": level}
    if model:
        labels["ml_model_name"] = model
    return labels


class LokiExporter(QueuedExporter):
    def __init__(self, component_id: str, config: LokiConfig) -> None:
        self._config = config
        headers = dict(config.headers)
        if config.tenant_id:
            headers["X-Scope-OrgID"] = config.tenant_id
        self._transport = HttpTransport(headers, config.compression, config.tls, RETRYABLE_STATUSES)
        base = config.endpoint.rstrip("/")
        self._url = base + (OTLP_PATH if config.protocol == "otlp" else PUSH_PATH)
        self._sender = QueueSender(component_id, config, self._send, frozenset({Signal.LOGS}))

    async def _send(self, signal: Signal, payload: bytes, items: int) -> int:
        if self._config.protocol == "otlp":
            await self._transport.post(self._url, payload, "application/x-protobuf", self._config.timeout)
        else:
            document = push_request(ExportLogsServiceRequest.FromString(payload))
            await self._transport.post(
                self._url, orjson.dumps(document), "application/json", self._config.timeout
            )
        return 0


FACTORY = Factory(
    kind="exporter", type="loki", config=LokiConfig, signals=frozenset({Signal.LOGS}), create=LokiExporter
)
