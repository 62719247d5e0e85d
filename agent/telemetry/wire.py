"""Protocol Buffers wire-format primitives for the hand-written OTLP encoders.

The agent writes its spans and records straight to OTLP bytes (``log_wire``, ``span_wire``):
building them with the protobuf classes costs several times more per item on the export
thread, which shares the serving process's GIL. Only what those encoders need is here.
"""

import struct
from typing import Any

_DOUBLE = struct.Struct("<d").pack
_UINT64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def string_key_value(key: str, value: str) -> bytes:
    """A ``KeyValue`` with a string ``AnyValue``, serialized."""
    return field(1, key.encode()) + field(2, field(1, value.encode()))


def any_value(value: Any) -> bytes:
    """An ``AnyValue``, serialized, by the same rules as ``encoding.any_value``: str, bool,
    int, float, list or tuple (an ``ArrayValue``), bytes, and anything else as its text."""
    if isinstance(value, str):
        return field(1, value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value & _UINT64)  # int64: negatives as ten-byte two's complement
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, (list, tuple)):
        return field(5, b"".join(field(1, any_value(item)) for item in value))
    if isinstance(value, bytes):
        return field(7, value)
    return field(1, str(value).encode())


def key_value(key: str, value: Any) -> bytes:
    """A ``KeyValue``, serialized."""
    return field(1, key.encode()) + field(2, any_value(value))


def export_request(resource_field: bytes, scope_field: bytes, items: list[bytes]) -> bytes:
    """An Export*ServiceRequest of one resource and one scope (traces and logs share the
    layout: resource_*(1) { resource(1), scope_*(2) { scope(1), items(2)... } }), made by one
    join. Nesting field() calls copied the whole batch three times, each into a new buffer of
    a few hundred KB, which cost more than writing the records (~2 µs a record here)."""
    scope_size = len(scope_field) + sum(map(len, items))
    scope_head = b"\x12" + varint(scope_size)
    resource_size = len(resource_field) + len(scope_head) + scope_size
    return b"".join([b"\x0a", varint(resource_size), resource_field, scope_head, scope_field, *items])
