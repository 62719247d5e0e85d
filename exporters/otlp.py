"""``otlp`` (gRPC) and ``otlphttp`` (HTTP/protobuf) exporters: any signal to any OTLP endpoint.

For traces to Jaeger v2 (which receives OTLP natively), an upstream OpenTelemetry
Collector, or another modeltel collector. Requests leave as they were received, re-serialized
once, with queue, batching and retries from :mod:`modeltel.exporters.sending`. Records an
endpoint rejects through OTLP partial success are counted as dropped.
"""

from google.protobuf.message import DecodeError, Message
from pydantic import Field

from modeltel.collector.component import Factory
from modeltel.collector.signals import SIGNAL_TYPES, Signal
from modeltel.exporters.sending import QueuedExporter, QueueSender, SendingConfig
from modeltel.exporters.transports import Compression, GrpcTransport, HttpTransport, TlsConfig

PROTOBUF = "application/x-protobuf"

EXPORT_METHODS = {
    Signal.TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    Signal.METRICS: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    Signal.LOGS: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}


def rejected_items(signal: Signal, response: bytes) -> int:
    """Items an OTLP response's partial_success says were rejected (0 for an empty body)."""
    if not response:
        return 0
    try:
        message: Message = SIGNAL_TYPES[signal].response.FromString(response)
    except DecodeError:
        return 0  # a 2xx without a parsable body: OTLP says the request succeeded
    partial = message.partial_success  # type: ignore[attr-defined]
    field = {Signal.TRACES: "rejected_spans", Signal.METRICS: "rejected_data_points"}.get(
        signal, "rejected_log_records"
    )
    return int(getattr(partial, field))


class OtlpGrpcConfig(SendingConfig):
    endpoint: str = Field(default="127.0.0.1:4317", description="host:port of the OTLP/gRPC server.")
    headers: dict[str, str] = {}
    compression: Compression = "none"
    tls: TlsConfig = TlsConfig()


class OtlpHttpConfig(SendingConfig):
    endpoint: str = Field(default="http://127.0.0.1:4318", description="Base URL; /v1/<signal> is added.")
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    logs_endpoint: str | None = None
    headers: dict[str, str] = {}
    compression: Compression = "none"
    tls: TlsConfig = TlsConfig()

    def url(self, signal: Signal) -> str:
        override = getattr(self, f"{signal.value}_endpoint")
        return override or f"{self.endpoint.rstrip('/')}{SIGNAL_TYPES[signal].http_path}"


class OtlpGrpcExporter(QueuedExporter):
    def __init__(self, component_id: str, config: OtlpGrpcConfig) -> None:
        self._config = config
        self._transport = GrpcTransport(config.endpoint, config.headers, config.compression, config.tls)
        self._sender = QueueSender(component_id, config, self._send, frozenset(Signal))

    async def _send(self, signal: Signal, payload: bytes, items: int) -> int:
        response = await self._transport.export(EXPORT_METHODS[signal], payload, self._config.timeout)
        return rejected_items(signal, response)


class OtlpHttpExporter(QueuedExporter):
    def __init__(self, component_id: str, config: OtlpHttpConfig) -> None:
        self._config = config
        self._transport = HttpTransport(config.headers, config.compression, config.tls)
        self._sender = QueueSender(component_id, config, self._send, frozenset(Signal))

    async def _send(self, signal: Signal, payload: bytes, items: int) -> int:
        reply = await self._transport.post(self._config.url(signal), payload, PROTOBUF, self._config.timeout)
        return (
            rejected_items(signal, reply.body)
            if reply.headers.get("Content-Type", "").startswith(PROTOBUF)
            else 0
        )


GRPC_FACTORY = Factory(
    kind="exporter", type="otlp", config=OtlpGrpcConfig, signals=frozenset(Signal), create=OtlpGrpcExporter
)
HTTP_FACTORY = Factory(
    kind="exporter",
    type="otlphttp",
    config=OtlpHttpConfig,
    signals=frozenset(Signal),
    create=OtlpHttpExporter,
)
