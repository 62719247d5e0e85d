"""Prediction and label records written straight to OTLP protobuf bytes.

Building one ``LogRecord`` message per record with the protobuf classes costs ~15 µs here
(keyword construction, a copy of each attribute message), as much as everything else the
agent does per row. A record is a handful of fields, most of them the same for every record
of a model, so this module writes the wire format directly: the constant parts (resource,
scope, severity, event name, a model's attributes) are encoded once and reused, and per
record only the time, body, id and trace ids are written. The result parses into exactly
the message the classes would build (tests/agent/telemetry/test_log_wire.py checks it).

Field numbers are those of opentelemetry/proto/logs/v1/logs.proto and
collector/logs/v1/logs_service.proto.
"""

import struct
import time
from collections.abc import Iterable, Mapping
from typing import Any

from modeltel.agent.telemetry.wire import field, key_value, string_key_value, varint

_FIXED64_TIMES = struct.Struct("<BQBQ").pack  # time_unix_nano (1) and observed_time_unix_nano (11)
_SEVERITY_INFO = b"\x10\x09" + b"\x1a\x04INFO"  # severity_number (2) = 9, severity_text (3)
_TRACE_FLAGS = b"\x45\x01\x00\x00\x00"  # flags (8), fixed32: sampled


def record_attributes(attributes: Mapping[str, Any]) -> bytes:
    """``attributes`` as ``LogRecord.attributes`` fields, serialized: what a ``LogEvent``
    carries. Bytes rather than ``KeyValue`` messages, so a queued record is a tuple of plain
    values that the garbage collector stops tracking (see ``encoding.LogEvent``)."""
    return b"".join(field(6, key_value(key, value)) for key, value in attributes.items())


class LogWriter:
    """Encodes batches for one resource and scope; caches the per-event-name constant parts."""

    def __init__(self, resource: bytes, scope: bytes, yield_every: int) -> None:
        self._resource_field = field(1, resource)
        self._scope_field = field(1, scope)
        self._yield_every = yield_every
        self._event_names: dict[str, bytes] = {}
        self._id_prefixes: dict[tuple[str, int], bytes] = {}

    def _constant(self, attributes: bytes, event_name: str) -> bytes:
        name = self._event_names.get(event_name)
        if name is None:
            name = self._event_names[event_name] = field(12, event_name.encode())
        return _SEVERITY_INFO + name + attributes

    def _record_id(self, key: str, value: str) -> bytes:
        """The id attribute: everything before the value's bytes depends only on the key and
        the value's length (32 for every prediction id), so it is encoded once."""
        data = value.encode()
        prefix = self._id_prefixes.get((key, len(data)))
        if prefix is None:
            encoded = field(6, string_key_value(key, value))
            prefix = self._id_prefixes[(key, len(data))] = encoded[: len(encoded) - len(data)]
        return prefix + data

    def encode(self, records: Iterable) -> bytes:
        """``records`` are ``encoding.LogEvent``s or plain tuples of their fields (what the
        pipeline queues); returns a serialized ExportLogsServiceRequest."""
        parts = [self._scope_field]
        append = parts.append
        yield_every = self._yield_every
        last_attributes, last_event, constant = None, "", b""
        for index, record in enumerate(records):
            if index % yield_every == yield_every - 1:
                time.sleep(0)  # let the request path run: this thread shares its GIL
            # by position: the request path queues plain tuples (encoding.LogEvent's fields)
            time_ns, event_name, body, attributes, id_key, id_value, trace_id, span_id = record
            if type(body) is str:
                body = body.encode()
            size = len(body)
            # AnyValue.string_value (1); bodies are mostly 128 B to 16 KiB: a two-byte length
            any_value = (b"\x0a" + bytes(((size & 0x7F) | 0x80, size >> 7)) if 0x80 <= size < 0x4000
                         else b"\x0a" + varint(size)) + body  # fmt: skip
            if attributes is not last_attributes or event_name != last_event:  # mostly: the same model
                constant = self._constant(attributes, event_name)
                last_attributes, last_event = attributes, event_name
            pieces = [
                _FIXED64_TIMES(0x09, time_ns, 0x59, time_ns), constant,
                b"\x2a", varint(len(any_value)), any_value,
            ]  # fmt: skip
            if id_key is not None:
                pieces.append(self._record_id(id_key, id_value))
            if trace_id:
                pieces += (_TRACE_FLAGS, b"\x4a\x10", trace_id.to_bytes(16, "big"),
                           b"\x52\x08", span_id.to_bytes(8, "big"))  # fmt: skip
            log_record = b"".join(pieces)
            append(b"\x12" + varint(len(log_record)) + log_record)  # ScopeLogs.log_records (2)
        scope_logs = b"".join(parts)
        resource_logs = self._resource_field + field(2, scope_logs)  # ResourceLogs.scope_logs (2)
        return field(1, resource_logs)  # ExportLogsServiceRequest.resource_logs (1)
