"""OTLP/HTTP transport on aiohttp: protobuf or JSON bodies, optionally gzip-compressed.

Status codes follow the OTLP/HTTP specification: 400 for undecodable data, 413 for bodies
over ``max_request_bytes`` (before or after decompression), 415 for other content types,
503 with Retry-After when a pipeline's queue is full (backpressure), each with a
``google.rpc.Status`` body in the request's encoding.
"""

import logging
import math

from aiohttp import web
from google.rpc import code_pb2, status_pb2

from modeltel.collector.component import Backpressure
from modeltel.collector.config import split_host_port
from modeltel.collector.receivers.otlp import codec
from modeltel.collector.receivers.otlp.receiver import Acceptor
from modeltel.collector.signals import SIGNAL_TYPES, Signal

_log = logging.getLogger("modeltel.collector")

_ACCEPTED = " or ".join(codec.CONTENT_TYPES)

_RPC_CODE = {
    400: code_pb2.INVALID_ARGUMENT,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    503: code_pb2.UNAVAILABLE,
    500: code_pb2.INTERNAL,
}


def error_response(status: int, message: str, media: str) -> web.Response:
    if media not in codec.CONTENT_TYPES:
        media = codec.PROTOBUF
    body = codec.encode_message(
        status_pb2.Status(code=_RPC_CODE.get(status, code_pb2.UNKNOWN), message=message), media
    )
    return web.Response(status=status, body=body, content_type=media)


class HttpServer:
    def __init__(self, endpoint: str, max_request_bytes: int, acceptor: Acceptor) -> None:
        self._host, self._port = split_host_port(endpoint)
        self._max = max_request_bytes
        self._acceptor = acceptor
        self._runner: web.AppRunner | None = None

    def _application(self) -> web.Application:
        app = web.Application(client_max_size=self._max)
        for signal, signal_type in SIGNAL_TYPES.items():
            if self._acceptor.accepts(signal):
                app.router.add_post(signal_type.http_path, self._handler(signal))
        return app

    def _handler(self, signal: Signal):
        signal_type = SIGNAL_TYPES[signal]

        async def handle(request: web.Request) -> web.Response:
            media = codec.media_type(request.headers.get("Content-Type"))
            if media not in codec.CONTENT_TYPES:
                return self._reject(
                    signal, 415, f"unsupported Content-Type {media!r}; use {_ACCEPTED}", media
                )
            if request.content_length is not None and request.content_length > self._max:
                return self._reject(
                    signal, 413, f"body of {request.content_length} bytes exceeds {self._max}", media
                )
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self._reject(signal, 413, f"body exceeds {self._max} bytes", media)
            try:
                payload = codec.decode_content(body, request.headers.get("Content-Encoding"), self._max)
                batch = codec.parse_request(payload, media, signal_type.request)
            except codec.OtlpDecodeError as error:
                return self._reject(signal, error.status, error.message, media)
            try:
                response = await self._acceptor.accept(
                    signal, batch, payload if media == codec.PROTOBUF else None
                )
            except Backpressure as error:
                refusal = error_response(503, str(error), media)
                refusal.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
                return refusal
            except Exception as error:
                _log.exception("pipeline failed on a %s batch", signal.value)
                return error_response(500, f"pipeline failed: {type(error).__name__}", media)
            return web.Response(body=codec.encode_message(response, media), content_type=media)

        return handle

    def _reject(self, signal: Signal, status: int, message: str, media: str) -> web.Response:
        self._acceptor.reject(signal, status)
        return error_response(status, message, media)

    async def start(self) -> None:
        # Decompression stays ours: bounded output size and truncation checks (codec.gunzip).
        self._runner = web.AppRunner(self._application(), access_log=None, auto_decompress=False)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
        except OSError as error:
            raise OSError(
                error.errno,
                f"OTLP/HTTP receiver could not listen on {self._host}:{self._port}: {error.strerror}",
            ) from None
        _log.info("OTLP/HTTP receiver listening on %s:%d", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
