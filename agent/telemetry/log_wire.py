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

from modeltel.agent.telemetry.wire import export_request, field, key_value, string_key_value, varint

_FIXED64_TIMES = struct.Struct("<BQBQ").pack  # time_unix_nano (1) and observed_time_unix_nano (11)
_SEVERITY_INFO = b"\x10\x09" + b"\x1a\x04INFO"  # severity_number (2) = 9, severity_text (3)
_TRACE_FLAGS = b"\x45\x01\x00\x00\x00"  # flags (8), fixed32: sampled
# flags, then trace_id (9, 16 bytes: high and low halves) and span_id (10, 8 bytes), each with
# its tag and length as one big-endian short
_TRACE = struct.Struct(">5sHQQHQ").pack
_LOW_64 = (1 << 64) - 1
_TWO_BYTES = 0x4000  # lengths from 128 to this (exclusive) take two bytes as a varint
_RECORD_HEAD = struct.Struct("<BBB").pack  # a tag and a two-byte length
_BODY_HEADS = struct.Struct("<BBBBBB").pack  # LogRecord.body's and its AnyValue's


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

    def _id_prefix(self, key: str, value: str) -> bytes:
        """The id attribute up to its value's bytes: that depends only on the key and the
        value's length (32 for every prediction id), so it is encoded once."""
        size = len(value.encode())
        prefix = self._id_prefixes.get((key, size))
        if prefix is None:
            encoded = field(6, string_key_value(key, value))
            prefix = self._id_prefixes[(key, size)] = encoded[: len(encoded) - size]
        return prefix

    def encode(self, records: Iterable) -> bytes:
        """``records`` are ``encoding.LogEvent``s or plain tuples of their fields (what the
        pipeline queues); returns a serialized ExportLogsServiceRequest.

        Each record goes into the request as three pieces: its head (tag, length, times, the
        constant fields, the body's length prefixes), the body as it is, and its tail (id and
        trace ids); lengths are added up rather than measured on joined bytes, and the request
        is made by one join (``wire.export_request``)."""
        parts: list[bytes] = []
        append = parts.append
        yield_every = self._yield_every
        last_attributes, last_event, constant = None, "", b""
        last_id_key, id_size, id_prefix = None, -1, b""
        index = 0
        for time_ns, event_name, body, attributes, id_key, id_value, trace_id, span_id in records:
            index += 1
            if index == yield_every:
                index = 0
                time.sleep(0)  # let the request path run: this thread shares its GIL
            if type(body) is str:
                body = body.encode()
            size = len(body)
            # AnyValue.string_value (1) inside LogRecord.body (5); bodies are mostly 128 B to
            # 16 KiB, where both lengths take two bytes
            if 0x80 <= size < _TWO_BYTES - 3:
                value_size = size + 3
                heads = _BODY_HEADS(0x2A, (value_size & 0x7F) | 0x80, value_size >> 7,
                                    0x0A, (size & 0x7F) | 0x80, size >> 7)  # fmt: skip
            else:
                string_head = b"\x0a" + varint(size)
                value_size = len(string_head) + size
                heads = b"\x2a" + varint(value_size) + string_head
            if attributes is not last_attributes or event_name != last_event:  # mostly: the same model
                constant = self._constant(attributes, event_name)
                last_attributes, last_event = attributes, event_name
            if id_key is None:
                tail = b""
            else:
                data = id_value.encode()
                if id_key is not last_id_key or len(data) != id_size:
                    last_id_key, id_size = id_key, len(data)
                    id_prefix = self._id_prefix(id_key, id_value)
                tail = id_prefix + data
            if trace_id:
                tail += _TRACE(_TRACE_FLAGS, 0x4A10, trace_id >> 64, trace_id & _LOW_64, 0x5208, span_id)
            record_size = 18 + len(constant) + len(heads) + size + len(tail)
            if 0x80 <= record_size < _TWO_BYTES:  # ScopeLogs.log_records (2)
                length = _RECORD_HEAD(0x12, (record_size & 0x7F) | 0x80, record_size >> 7)
            else:
                length = b"\x12" + varint(record_size)
            append(length + _FIXED64_TIMES(0x09, time_ns, 0x59, time_ns) + constant + heads)
            append(body)
            append(tail)
        return export_request(self._resource_field, self._scope_field, parts)
