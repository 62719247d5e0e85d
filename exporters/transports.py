"""How exporters reach backends: HTTP (aiohttp) and gRPC (grpc.aio) clients for raw request bytes.

Both classify failures as the OTLP specification does, so the retry policy can act on them:
HTTP 429/502/503/504 and network errors are retryable (Retry-After honoured), other
statuses permanent; gRPC ``UNAVAILABLE`` and friends are retryable (RetryInfo honoured),
``RESOURCE_EXHAUSTED`` only with RetryInfo, the rest permanent.
"""

import gzip
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiohttp
import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from multidict import CIMultiDictProxy
from pydantic import Field

from modeltel.collector.component import ComponentConfig
from modeltel.exporters.retry import PermanentError, RetryableError, parse_retry_after

Compression = Literal["none", "gzip"]
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


class TlsConfig(ComponentConfig):
    insecure: bool = Field(default=True, description="Plain text (gRPC) / no TLS client settings.")
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.ca_file is None and self.cert_file is None and not self.insecure_skip_verify:
            return None  # aiohttp's default verification for https URLs
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        if self.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: "CIMultiDictProxy[str]"
    body: bytes


class HttpTransport:
    """One aiohttp session per exporter; POSTs bytes and raises classified errors."""

    def __init__(
        self,
        headers: dict[str, str],
        compression: Compression,
        tls: TlsConfig,
        retryable: frozenset[int] = RETRYABLE_HTTP,
    ) -> None:
        self._headers = headers
        self._retryable = retryable
        self._compression = compression
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        context = self._tls.ssl_context()
        connector = aiohttp.TCPConnector(ssl=context if context is not None else True)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, payload: bytes, content_type: str, timeout: float) -> HttpReply:
        assert self._session is not None, "transport not started"
        headers = {**self._headers, "Content-Type": content_type}
        if self._compression == "gzip":
            payload = gzip.compress(payload, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            async with self._session.post(
                url, data=payload, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                reply = HttpReply(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, OSError) as error:
            raise RetryableError(f"POST {url}: {type(error).__name__}: {error}") from None
        if 200 <= reply.status < 300:
            return reply
        detail = reply.body[:200].decode(errors="replace").strip()
        message = f"POST {url}: HTTP {reply.status} {detail}"
        if reply.status in self._retryable:
            raise RetryableError(message, parse_retry_after(reply.headers.get("Retry-After")))
        raise PermanentError(message)


def retry_info_delay(metadata: grpc.aio.Metadata | None) -> float | None:
    """The RetryInfo delay in a gRPC error's google.rpc.Status details, if any."""
    for key, value in metadata or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return None
        for detail in status.details:
            info = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


class GrpcTransport:
    """A grpc.aio channel calling OTLP ``Export`` methods with already-serialized requests."""

    def __init__(self, endpoint: str, headers: dict[str, str], compression: Compression, tls: TlsConfig):
        self._endpoint = endpoint
        self._metadata = tuple((key.lower(), value) for key, value in headers.items())
        self._compression = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        self._tls = tls
        self._channel: grpc.aio.Channel | None = None

    async def start(self) -> None:
        if self._tls.insecure:
            self._channel = grpc.aio.insecure_channel(self._endpoint)
            return
        read = lambda path: path.read_bytes() if path else None  # noqa: E731
        credentials = grpc.ssl_channel_credentials(
            read(self._tls.ca_file), read(self._tls.key_file), read(self._tls.cert_file)
        )
        self._channel = grpc.aio.secure_channel(self._endpoint, credentials)

    async def stop(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def export(self, method: str, payload: bytes, timeout: float) -> bytes:
        assert self._channel is not None, "transport not started"
        call = self._channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            return await call(
                payload, timeout=timeout, metadata=self._metadata, compression=self._compression
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            delay = retry_info_delay(error.trailing_metadata())
            message = f"gRPC {self._endpoint} {method}: {code.name} {error.details()}"
            if code in RETRYABLE_GRPC or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None):
                raise RetryableError(message, delay) from None
            raise PermanentError(message) from None
