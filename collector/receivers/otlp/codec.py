"""OTLP/HTTP request bodies: gzip, binary protobuf and JSON, decoded with bounded memory.

Errors are :class:`OtlpDecodeError` carrying the HTTP status the OTLP specification asks
for, so the transport layer only maps them to a response.
"""

import base64
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)

# In OTLP/JSON trace and span ids are hex strings, whereas the protobuf JSON mapping
# expects base64 for bytes fields.
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_ID_LENGTHS = {"traceId": 16, "trace_id": 16}


class OtlpDecodeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def gunzip(body: bytes, max_size: int) -> bytes:
    """Inflate without ever holding more than ``max_size`` bytes of output (gzip bombs)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_size + 1)
    except zlib.error as error:
        raise OtlpDecodeError(400, f"invalid gzip body: {error}") from None
    if len(data) > max_size:
        raise OtlpDecodeError(413, f"decompressed body exceeds {max_size} bytes")
    if not inflater.eof:
        raise OtlpDecodeError(400, "truncated gzip body")
    return data


def decode_content(body: bytes, content_encoding: str | None, max_size: int) -> bytes:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        return gunzip(body, max_size)
    if encoding in ("", "identity"):
        return body
    raise OtlpDecodeError(415, f"unsupported Content-Encoding {content_encoding!r}; use gzip or identity")


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = _hex_id_to_base64(key, value)
            elif isinstance(value, (dict, list)):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _hex_ids_to_base64(item)
    return node


def _hex_id_to_base64(key: str, value: str) -> str:
    if value == "":
        return ""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise OtlpDecodeError(400, f"{key} must be hex-encoded, got {value[:40]!r}") from None
    expected = _ID_LENGTHS.get(key, 8)
    if len(raw) != expected:
        raise OtlpDecodeError(
            400, f"{key} must be {expected} bytes ({2 * expected} hex digits), got {len(raw)}"
        )
    return base64.b64encode(raw).decode()


def parse_request(payload: bytes, media: str, message_type: type[Message]) -> Message:
    message = message_type()
    if media == PROTOBUF:
        try:
            message.ParseFromString(payload)
        except DecodeError as error:
            raise OtlpDecodeError(400, f"malformed protobuf {message_type.__name__}: {error}") from None
        return message
    if media == JSON:
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            raise OtlpDecodeError(400, f"invalid JSON: {error}") from None
        if not isinstance(document, dict):
            raise OtlpDecodeError(400, f"OTLP/JSON body must be an object, got {type(document).__name__}")
        try:
            json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
        except json_format.ParseError as error:
            raise OtlpDecodeError(400, f"invalid OTLP/JSON {message_type.__name__}: {error}") from None
        return message
    raise OtlpDecodeError(415, f"unsupported Content-Type {media!r}; use {PROTOBUF} or {JSON}")


def encode_message(message: Message, media: str) -> bytes:
    if media == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()
