"""The OTLP/JSON mapping: protobuf JSON with the OTLP specification's differences.

Trace and span ids are hex strings (protobuf JSON would use base64), and receivers ignore
unknown fields. Used by the OTLP/HTTP receiver and by anything that shows batches to people.
"""

import base64
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message

_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_ID_BYTES = {"traceId": 16, "trace_id": 16}  # every other id field is a span id: 8 bytes


class OtlpJsonError(ValueError):
    """The document is not OTLP/JSON for the expected message; the text says why."""


def _rewrite_ids(node: Any, rewrite: Callable[[str, str], str]) -> Any:
    """Apply ``rewrite(key, value)`` to every id field of a decoded document, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = rewrite(key, value)
            elif isinstance(value, (dict, list)):
                _rewrite_ids(value, rewrite)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _rewrite_ids(item, rewrite)
    return node


def _hex_to_base64(key: str, value: str) -> str:
    if value == "":
        return ""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise OtlpJsonError(f"{key} must be hex-encoded, got {value[:40]!r}") from None
    expected = _ID_BYTES.get(key, 8)
    if len(raw) != expected:
        raise OtlpJsonError(f"{key} must be {expected} bytes ({2 * expected} hex digits), got {len(raw)}")
    return base64.b64encode(raw).decode()


def _base64_to_hex(key: str, value: str) -> str:
    return base64.b64decode(value).hex()


def parse(payload: bytes, message_type: type[Message]) -> Message:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise OtlpJsonError(f"invalid JSON: {error}") from None
    if not isinstance(document, dict):
        raise OtlpJsonError(f"OTLP/JSON body must be an object, got {type(document).__name__}")
    message = message_type()
    try:
        json_format.ParseDict(_rewrite_ids(document, _hex_to_base64), message, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise OtlpJsonError(f"invalid OTLP/JSON {message_type.__name__}: {error}") from None
    return message


def dumps(message: Message) -> str:
    """Lower-camel-case keys, hex ids, as the OTLP specification writes them."""
    document = json_format.MessageToDict(message)
    return orjson.dumps(_rewrite_ids(document, _base64_to_hex)).decode()
