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


# The export thread shares the GIL with the request path: encoding a 512-record batch of
# logs in one go would hold it for about a millisecond, which requests see as tail latency.
# Every this many records (~130 µs of encoding here) the encoder lets a waiting thread run.
# (Spans are encoded as they end.)
YIELD_EVERY = 64


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
            SpanWriter(resource_bytes, scope_bytes),
        )


def encode_spans(records: Sequence[SpanRecord], origin: Origin) -> bytes:
    return origin.span_writer.encode(records)


def frame_spans(span_fields: Sequence[bytes], origin: Origin) -> bytes:
    """Spans the pipeline encoded as they ended (``SpanWriter.span_field``), as one request."""
    return origin.span_writer.frame(span_fields)


class LogEvent(NamedTuple):
    """The fields of one event record (a prediction or a label) as the export thread encodes
    it. The request path queues a plain ``tuple`` of these fields, not a ``LogEvent``: an
    exact tuple of plain values is untracked by the garbage collector at the first collection
    it survives (a subclass never is), so records waiting out the export delay do not push
    the young generations into full collections (100+ ms with a loaded model, seen by
    requests as tail latency). ``attributes`` is bytes, not messages, for the same reason."""

    time_ns: int
    event_name: str
    body: str | bytes  # JSON text (UTF-8 bytes are accepted too)
    attributes: bytes  # log_wire.record_attributes; shared by the records of one model
    id_key: str | None  # the attribute of this record's own id (None: no id), not nested in a
    id_value: str  # tuple: a nested tuple keeps its parent tracked for one more collection
    trace_id: int
    span_id: int


# A record as the request path hands it over: LogEvent's fields in a plain tuple (see LogEvent).
LogFields = tuple[int, str, str | bytes, bytes, str | None, str, int, int]
LOG_WIDTH = len(LogEvent._fields)


def encode_logs(records: Iterable[LogEvent | LogFields], origin: Origin) -> bytes:
    return origin.log_writer.encode(records)


def encode_log_fields(fields: Sequence[Any], origin: Origin) -> bytes:
    """Records queued field by field (``queue.FieldQueue``) as one request; ``zip`` reuses its
    tuple, so this allocates no tuple per record either."""
    columns = iter(fields)
    return origin.log_writer.encode(zip(*[columns] * LOG_WIDTH, strict=True))


def encode_metrics(metrics: Sequence[Metric], origin: Origin) -> bytes:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.CopyFrom(origin.resource)
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.CopyFrom(origin.scope)
    scope_metrics.metrics.extend(metrics)
    return request.SerializeToString()
