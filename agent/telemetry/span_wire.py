"""Agent spans written straight to OTLP protobuf bytes.

Building a ``Span`` message with the protobuf classes costs about 13 µs per span here (one
``KeyValue`` and ``AnyValue`` object per attribute, then serialization), and a sampled
request ends two spans. Most attributes repeat from span to span (method, route, status,
model name), so each distinct attribute is encoded once and reused; per span only the ids,
times and name are written. The result parses into exactly the message the classes would
build (tests/agent/telemetry/test_span_wire.py checks it).

Field numbers are those of opentelemetry/proto/trace/v1/trace.proto and
collector/trace/v1/trace_service.proto.
"""

import struct
from collections.abc import Iterable
from typing import Any

from modeltel.agent.telemetry.wire import field, key_value, varint

_TIMES = struct.Struct("<BQBQ").pack  # start_time_unix_nano (7) and end_time_unix_nano (8), fixed64
_EVENT_TIME = struct.Struct("<BQ").pack  # Event.time_unix_nano (1), fixed64
_MAX_CACHED_ATTRIBUTES = 4096
_CACHED_TYPES = (str, int, bool, float)


class SpanWriter:
    """Encodes batches of ``SpanRecord`` for one resource and scope."""

    def __init__(self, resource: bytes, scope: bytes) -> None:
        self._resource_field = field(1, resource)
        self._scope_field = field(1, scope)
        # (key, type, value) -> the attribute as Span.attributes (9); the type keeps 1, 1.0 and
        # True apart (they are equal as dict keys).
        self._attributes: dict[tuple[str, type, Any], bytes] = {}

    def _attribute(self, key: str, value: Any) -> bytes:
        kind = type(value)
        if kind not in _CACHED_TYPES:
            return field(9, key_value(key, value))
        cache_key = (key, kind, value)
        encoded = self._attributes.get(cache_key)
        if encoded is None:
            if len(self._attributes) >= _MAX_CACHED_ATTRIBUTES:  # e.g. one url.path per request
                self._attributes.clear()
            encoded = self._attributes[cache_key] = field(9, key_value(key, value))
        return encoded

    def span_field(self, record: Any) -> bytes:
        """One ``spans.SpanRecord`` as a ``ScopeSpans.spans`` field. The pipeline encodes each
        span as it ends, so its queue holds bytes, which the garbage collector never tracks:
        queued span objects surviving the export delay would push the young generations into
        full collections (100+ ms with a loaded model, seen by requests as tail latency)."""
        name = record.name.encode()
        pieces = [b"\x0a\x10", record.trace_id.to_bytes(16, "big"), b"\x12\x08",
                  record.span_id.to_bytes(8, "big")]  # fmt: skip
        if record.parent_span_id:
            pieces += (b"\x22\x08", record.parent_span_id.to_bytes(8, "big"))
        pieces += (b"\x2a", varint(len(name)), name, b"\x30", varint(record.kind),
                   _TIMES(0x39, record.start_ns, 0x41, record.end_ns))  # fmt: skip
        attribute = self._attribute
        for key, value in record.attributes.items():
            pieces.append(attribute(key, value))
        if record.events:
            pieces += [_event(*event) for event in record.events]
        if record.status_code:
            status = b"\x18" + varint(record.status_code)
            if record.status_message:
                status = field(2, record.status_message.encode()) + status
            pieces.append(field(15, status))
        span = b"".join(pieces)
        return b"\x12" + varint(len(span)) + span  # ScopeSpans.spans (2)

    def frame(self, span_fields: Iterable[bytes]) -> bytes:
        """A serialized ExportTraceServiceRequest holding the given ``span_field`` results."""
        scope_spans = self._scope_field + b"".join(span_fields)
        resource_spans = self._resource_field + field(2, scope_spans)  # ResourceSpans.scope_spans (2)
        return field(1, resource_spans)  # ExportTraceServiceRequest.resource_spans (1)

    def encode(self, records: Iterable) -> bytes:
        """``records`` are ``spans.SpanRecord``s; returns a serialized ExportTraceServiceRequest."""
        return self.frame([self.span_field(record) for record in records])


def _event(name: str, time_ns: int, attributes: dict[str, Any]) -> bytes:
    pieces = [_EVENT_TIME(0x09, time_ns), field(2, name.encode())]
    pieces += [field(3, key_value(key, value)) for key, value in attributes.items()]
    return field(11, b"".join(pieces))  # Span.events (11)
