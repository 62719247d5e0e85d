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

from modeltel.agent.telemetry.wire import export_request, field, key_value, varint

_TIMES = struct.Struct("<BQBQ").pack  # start_time_unix_nano (7) and end_time_unix_nano (8), fixed64
# trace_id (1, 16 bytes: high and low halves) and span_id (2, 8 bytes), tags and lengths as one
# big-endian short each; parent_span_id (4) likewise.
_IDS = struct.Struct(">HQQHQ").pack
_PARENT = struct.Struct(">HQ").pack
_LOW_64 = (1 << 64) - 1
_VARINT_TABLE = 2048  # spans are smaller than this, but for long attribute values or events
_EVENT_TIME = struct.Struct("<BQ").pack  # Event.time_unix_nano (1), fixed64
_MAX_CACHED_ATTRIBUTES = 4096
_CACHED_TYPES = (str, int, bool, float)


_VARINTS = tuple(varint(size) for size in range(_VARINT_TABLE))


class SpanWriter:
    """Encodes batches of ``SpanRecord`` for one resource and scope."""

    def __init__(self, resource: bytes, scope: bytes) -> None:
        self._resource_field = field(1, resource)
        self._scope_field = field(1, scope)
        # (key, type, value) -> the attribute as Span.attributes (9); the type keeps 1, 1.0 and
        # True apart (they are equal as dict keys).
        self._attributes: dict[tuple[str, type, Any], bytes] = {}
        self._names: dict[tuple[str, int], bytes] = {}  # (name, kind) -> Span.name and Span.kind

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
        full collections (100+ ms with a loaded model, seen by requests as tail latency).
        Written on the request path of every sampled request, so the name and kind, and each
        attribute, are encoded once and looked up after."""
        trace_id = record.trace_id
        pieces = [_IDS(0x0A10, trace_id >> 64, trace_id & _LOW_64, 0x1208, record.span_id)]
        if record.parent_span_id:
            pieces.append(_PARENT(0x2208, record.parent_span_id))
        named = self._names.get((record.name, record.kind))
        if named is None:
            named = self._name_field(record.name, record.kind)
        pieces += (named, _TIMES(0x39, record.start_ns, 0x41, record.end_ns))
        cache = self._attributes
        for key, value in record.attributes.items():
            kind = type(value)
            encoded = cache.get((key, kind, value)) if kind in _CACHED_TYPES else None
            pieces.append(encoded if encoded is not None else self._attribute(key, value))
        if record.events:
            pieces += [_event(*event) for event in record.events]
        if record.status_code:
            status = b"\x18" + varint(record.status_code)
            if record.status_message:
                status = field(2, record.status_message.encode()) + status
            pieces.append(field(15, status))
        span = b"".join(pieces)
        size = len(span)
        return (
            b"\x12" + (_VARINTS[size] if size < _VARINT_TABLE else varint(size)) + span
        )  # ScopeSpans.spans (2)

    def _name_field(self, name: str, kind: int) -> bytes:
        encoded = name.encode()
        named = b"\x2a" + varint(len(encoded)) + encoded + b"\x30" + varint(kind)  # Span.name (5), kind (6)
        if len(self._names) >= _MAX_CACHED_ATTRIBUTES:  # e.g. a route-less span name per path
            self._names.clear()
        self._names[(name, kind)] = named
        return named

    def frame(self, span_fields: Iterable[bytes]) -> bytes:
        """A serialized ExportTraceServiceRequest holding the given ``span_field`` results."""
        fields = span_fields if isinstance(span_fields, list) else list(span_fields)
        return export_request(self._resource_field, self._scope_field, fields)

    def encode(self, records: Iterable) -> bytes:
        """``records`` are ``spans.SpanRecord``s; returns a serialized ExportTraceServiceRequest."""
        return self.frame([self.span_field(record) for record in records])


def _event(name: str, time_ns: int, attributes: dict[str, Any]) -> bytes:
    pieces = [_EVENT_TIME(0x09, time_ns), field(2, name.encode())]
    pieces += [field(3, key_value(key, value)) for key, value in attributes.items()]
    return field(11, b"".join(pieces))  # Span.events (11)
