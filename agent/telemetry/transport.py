"""Sending one encoded OTLP export request: OTLP/HTTP protobuf or OTLP/gRPC, with the outcome
classified the way the OTLP specification asks (retryable, with a delay hint, or not)."""

import gzip
import http.client
import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from modeltel.agent.telemetry.settings import SignalExport

_log = logging.getLogger("modeltel.agent")

# OTLP/HTTP: these statuses are transient; any other non-2xx drops the batch.
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_GRPC_PATHS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    retry_after_s: float | None = None
    detail: str = ""


class Transport(Protocol):
    def send(self, payload: bytes) -> Outcome: ...

    def close(self) -> None: ...


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class HttpTransport:
    """One keep-alive connection, reopened after any error; used by the export thread only."""

    def __init__(self, export: SignalExport) -> None:
        parts = urlsplit(export.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = export.timeout_s
        self._gzip = export.gzip
        self._headers = {"Content-Type": "application/x-protobuf", **export.headers}
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = cls(self._host, self._port, timeout=self._timeout)
        return self._connection

    def send(self, payload: bytes) -> Outcome:
        body = gzip.compress(payload, compresslevel=1) if self._gzip else payload
        try:
            connection = self._connect()
            connection.request("POST", self._path, body=body, headers=self._headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            return Outcome(False, retryable=True, detail=f"{type(error).__name__}: {error}")
        if 200 <= response.status < 300:
            return Outcome(True)
        retryable = response.status in RETRYABLE_HTTP
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return Outcome(
            False, retryable, _retry_after(response.getheader("Retry-After")), f"HTTP {response.status}"
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class GrpcTransport:
    """The OTLP/gRPC Export call with the already-encoded request as the message bytes."""

    RETRYABLE = frozenset({"CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED",
                           "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"})  # fmt: skip

    def __init__(self, export: SignalExport) -> None:
        import grpc

        parts = urlsplit(export.url if "://" in export.url else f"http://{export.url}")
        target = f"{parts.hostname}:{parts.port or 4317}"
        self._grpc = grpc
        if parts.scheme == "https":
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials())
        else:
            self._channel = grpc.insecure_channel(target)
        self._call = self._channel.unary_unary(_GRPC_PATHS[export.signal])
        self._timeout = export.timeout_s
        self._metadata = tuple(export.headers.items())
        self._compression = grpc.Compression.Gzip if export.gzip else None

    def send(self, payload: bytes) -> Outcome:
        try:
            self._call(payload, timeout=self._timeout, metadata=self._metadata, compression=self._compression)
        except self._grpc.RpcError as error:
            code = error.code().name if hasattr(error, "code") else "UNKNOWN"
            return Outcome(False, code in self.RETRYABLE, None, f"gRPC {code}")
        return Outcome(True)

    def close(self) -> None:
        self._channel.close()


def open_transport(export: SignalExport) -> Transport:
    return GrpcTransport(export) if export.protocol == "grpc" else HttpTransport(export)
