"""Batches of agent records as OTLP export requests (the opentelemetry-proto messages)."""

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from modeltel.agent.telemetry.log_wire import LogWriter
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

    @classmethod
    def create(cls, resource_attributes: Mapping[str, Any], scope_name: str, scope_version: str) -> "Origin":
        resource = Resource(attributes=key_values(resource_attributes))
        scope = InstrumentationScope(name=scope_name, version=scope_version)
        writer = LogWriter(resource.SerializeToString(), scope.SerializeToString(), YIELD_EVERY)
        return cls(resource, scope, writer)


def encode_spans(records: Sequence[SpanRecord], origin: Origin) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.CopyFrom(origin.resource)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.CopyFrom(origin.scope)
    add = scope_spans.spans.add
    for index, record in enumerate(records):
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            time.sleep(0)
        span = add(
            trace_id=record.trace_id.to_bytes(16, "big"),
            span_id=record.span_id.to_bytes(8, "big"),
            name=record.name,
            kind=record.kind,
            start_time_unix_nano=record.start_ns,
            end_time_unix_nano=record.end_ns,
            attributes=key_values(record.attributes),
        )
        if record.parent_span_id:
            span.parent_span_id = record.parent_span_id.to_bytes(8, "big")
        if record.status_code:
            span.status.CopyFrom(Status(code=record.status_code, message=record.status_message))
        if record.events:
            for name, timestamp, attributes in record.events:
                span.events.add(name=name, time_unix_nano=timestamp, attributes=key_values(attributes))
    return request.SerializeToString()


@dataclass(slots=True)
class LogEvent:
    """One event record (a prediction or a label) as the export thread encodes it."""

    time_ns: int
    event_name: str
    body: str
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
