"""The hand-written OTLP span encoding parses into exactly what the protobuf classes build."""

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from modeltel.agent.telemetry.encoding import Origin, encode_spans, key_values
from modeltel.agent.telemetry.encoding import any_value as reference_any_value
from modeltel.agent.telemetry.spans import SpanRecord
from modeltel.agent.telemetry.wire import any_value

ORIGIN = Origin.create(
    {"service.name": "svc", "service.instance.id": "i", "process.pid": 7}, "modeltel.agent", "1"
)


def reference_span(record: SpanRecord) -> Span:
    span = Span(
        trace_id=record.trace_id.to_bytes(16, "big"), span_id=record.span_id.to_bytes(8, "big"),
        name=record.name, kind=record.kind, start_time_unix_nano=record.start_ns,
        end_time_unix_nano=record.end_ns, attributes=key_values(record.attributes),
        events=[Span.Event(name=name, time_unix_nano=timestamp, attributes=key_values(attributes))
                for name, timestamp, attributes in record.events or ()],
    )  # fmt: skip
    if record.parent_span_id:
        span.parent_span_id = record.parent_span_id.to_bytes(8, "big")
    if record.status_code:
        span.status.CopyFrom(Status(code=record.status_code, message=record.status_message))
    return span


def reference_encoding(records: list[SpanRecord], origin: Origin) -> bytes:
    """The same request built with the opentelemetry-proto classes."""
    scope_spans = ScopeSpans(scope=origin.scope, spans=[reference_span(record) for record in records])
    resource_spans = ResourceSpans(resource=origin.resource, scope_spans=[scope_spans])
    return ExportTraceServiceRequest(resource_spans=[resource_spans]).SerializeToString()


VALUES = [
    "POST", "", "größe-модель", "x" * 300, True, False, 0, 1, 200, -1, -(2**63), 2**63 - 1, 0.0, -2.5,
    float("inf"), 1e-300, [1, "a", 2.5, True], (), b"\x00\xff", None, {"nested": 1},
]  # fmt: skip


def random_spans(count: int, seed: int) -> list[SpanRecord]:
    rng = np.random.default_rng(seed)
    spans = []
    for index in range(count):
        keys = [f"attribute.{k}" for k in rng.choice(12, size=int(rng.integers(0, 8)), replace=False)]
        attributes = {key: VALUES[int(rng.integers(0, len(VALUES)))] for key in keys}
        events = None
        if index % 4 == 0:
            events = [
                ("exception", int(rng.integers(0, 2**63)), {"exception.type": "ValueError", "n": index})
            ]
        status = int(rng.integers(0, 3))
        spans.append(SpanRecord(
            trace_id=int(rng.integers(1, 2**63)) << 64 | int(rng.integers(0, 2**63)),
            span_id=int(rng.integers(1, 2**63)),
            parent_span_id=int(rng.integers(0, 2**63)) if index % 2 else 0,
            name=["POST /predict", "model.predict", "é" * 200][index % 3], kind=int(rng.integers(1, 6)),
            start_ns=int(rng.integers(0, 2**63)), end_ns=int(rng.integers(0, 2**63)), attributes=attributes,
            status_code=status, status_message="boom: ü" if status == 2 and index % 3 else "", events=events,
        ))  # fmt: skip
    return spans


def test_random_spans_parse_to_the_reference_message() -> None:
    spans = random_spans(400, seed=5)
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans, ORIGIN))
    assert ours == ExportTraceServiceRequest.FromString(reference_encoding(spans, ORIGIN))
    assert len(ours.resource_spans[0].scope_spans[0].spans) == 400


def test_cached_attributes_keep_equal_values_of_other_types_apart() -> None:
    """1, 1.0 and True are one dict key; the cache must still encode each by its own type."""
    spans = random_spans(1, seed=1)
    for value in (1, 1.0, True, 1, True, 1.0):
        spans[0].attributes = {"a": value}
        decoded = ExportTraceServiceRequest.FromString(encode_spans(spans, ORIGIN))
        assert decoded == ExportTraceServiceRequest.FromString(reference_encoding(spans, ORIGIN))


def test_any_value_parses_to_what_the_classes_build_for_every_type() -> None:
    for value in VALUES:
        assert AnyValue.FromString(any_value(value)) == reference_any_value(value), value


def test_empty_batch_is_a_valid_request() -> None:
    assert ExportTraceServiceRequest.FromString(
        encode_spans([], ORIGIN)
    ) == ExportTraceServiceRequest.FromString(reference_encoding([], ORIGIN))
