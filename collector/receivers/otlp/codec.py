"""OTLP/HTTP request bodies: gzip, binary protobuf and JSON, decoded with bounded memory.

Errors are :class:`OtlpDecodeError` carrying the HTTP status the OTLP specification asks
for, so the transport layer only maps them to a response.
"""

import zlib

from google.protobuf.message import DecodeError, Message

from modeltel.collector import otlp_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)


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


def parse_request(payload: bytes, media: str, message_type: type[Message]) -> Message:
    if media == PROTOBUF:
        try:
            return message_type.FromString(payload)
        except DecodeError as error:
            raise OtlpDecodeError(400, f"malformed protobuf {message_type.__name__}: {error}") from None
    if media == JSON:
        try:
            return otlp_json.parse(payload, message_type)
        except otlp_json.OtlpJsonError as error:
            raise OtlpDecodeError(400, str(error)) from None
    raise OtlpDecodeError(415, f"unsupported Content-Type {media!r}; use {PROTOBUF} or {JSON}")


def encode_message(message: Message, media: str) -> bytes:
    if media == JSON:
        return otlp_json.dumps(message).encode()
    return message.SerializeToString()
