"""Batches of agent records as OTLP export requests (the opentelemetry-proto messages)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from modeltel.agent.telemetry.log_wire import LogWriter
from modeltel.agent.telemetry.span_wire import SpanWriter
from modeltel.agent.telemetry.spans import SpanRecord


def any_value(value: Any) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    return AnyValue(string_value=str(value))


def key_values(attributes: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


# The export thread shares the GIL with the request path: encoding a 512-record batch in one
# go would hold it for milliseconds, which requests see as tail latency. Every this many
# records the encoder lets a waiting thread run.
YIELD_EVERY = 128


@dataclass(frozen=True)
class Origin:
    """The resource and instrumentation scope every record of this process is sent under."""

    resource: Resource
    scope: InstrumentationScope
    log_writer: LogWriter
    span_writer: SpanWriter

    @classmethod
    def create(cls, resource_attributes: Mapping[str, Any], scope_name: str, scope_version: str) -> "Origin":
        resource = Resource(attributes=key_values(resource_attributes))
        scope = InstrumentationScope(name=scope_name, version=scope_version)
        resource_bytes, scope_bytes = resource.SerializeToString(), scope.SerializeToString()
        return cls(
            resource,
            scope,
            LogWriter(resource_bytes, scope_bytes, YIELD_EVERY),
            SpanWriter(resource_bytes, scope_bytes, YIELD_EVERY),
        )


def encode_spans(records: Sequence[SpanRecord], origin: Origin) -> bytes:
    return origin.span_writer.encode(records)


class LogEvent(NamedTuple):
    """One event record (a prediction or a label) as the export thread encodes it. A tuple,
    so a batch's records are built without a Python-level constructor call each."""

    time_ns: int
    event_name: str
    body: str | bytes  # JSON text (UTF-8 bytes are accepted too)
    attributes: list[KeyValue]  # shared by the records of one model: built once, never mutated
    record_id: tuple[str, str] | None  # (attribute key, id) of this record alone
    trace_id: int
    span_id: int


def encode_logs(records: Iterable[LogEvent], origin: Origin) -> bytes:
    return origin.log_writer.encode(records)


def encode_metrics(metrics: Sequence[Metric], origin: Origin) -> bytes:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.CopyFrom(origin.resource)
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.CopyFrom(origin.scope)
    scope_metrics.metrics.extend(metrics)
    return request.SerializeToString()
