"""OTLP receiver: config, factory, and the accept path both transports share."""

from google.protobuf.message import Message
from pydantic import Field

from modeltel.collector.component import ComponentConfig, Factory, Host, ReceiverConsumers
from modeltel.collector.config import HostPort
from modeltel.collector.signals import SIGNAL_TYPES, Signal

DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024


class TransportConfig(ComponentConfig):
    endpoint: HostPort
    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, gt=0)


class ProtocolsConfig(ComponentConfig):
    grpc: TransportConfig | None = None
    http: TransportConfig | None = None


class OtlpReceiverConfig(ComponentConfig):
    protocols: ProtocolsConfig = ProtocolsConfig(
        grpc=TransportConfig(endpoint="127.0.0.1:4317"), http=TransportConfig(endpoint="127.0.0.1:4318")
    )


class Acceptor:
    """Counts a batch's items and hands it to the pipelines of its signal."""

    def __init__(self, receiver_id: str, transport: str, consumers: ReceiverConsumers, host: Host) -> None:
        self._receiver_id = receiver_id
        self._transport = transport
        self._consumers = consumers
        self._host = host

    def accepts(self, signal: Signal) -> bool:
        return signal in self._consumers

    def refuse(self, signal: Signal, items: int) -> None:
        self._host.metrics.receiver_refused.labels(self._receiver_id, self._transport, signal.value).inc(
            items
        )

    def reject(self, signal: Signal, code: int | str) -> None:
        """Count a request turned away before its items could be read."""
        self._host.metrics.receiver_rejected_requests.labels(
            self._receiver_id, self._transport, signal.value, str(code)
        ).inc()

    async def accept(self, signal: Signal, batch: Message) -> None:
        items = SIGNAL_TYPES[signal].count_items(batch)
        try:
            await self._consumers[signal].consume(signal, batch)
        except Exception:
            self.refuse(signal, items)
            raise
        self._host.metrics.receiver_accepted.labels(self._receiver_id, self._transport, signal.value).inc(
            items
        )


class OtlpReceiver:
    def __init__(self, component_id: str, config: OtlpReceiverConfig, consumers: ReceiverConsumers) -> None:
        self._id = component_id
        self._config = config
        self._consumers = consumers
        self._servers: list = []

    async def start(self, host: Host) -> None:
        from modeltel.collector.receivers.otlp.grpc import GrpcServer
        from modeltel.collector.receivers.otlp.http import HttpServer

        protocols = self._config.protocols
        if protocols.grpc is not None:
            acceptor = Acceptor(self._id, "grpc", self._consumers, host)
            self._servers.append(
                GrpcServer(protocols.grpc.endpoint, protocols.grpc.max_request_bytes, acceptor)
            )
        if protocols.http is not None:
            acceptor = Acceptor(self._id, "http", self._consumers, host)
            self._servers.append(
                HttpServer(protocols.http.endpoint, protocols.http.max_request_bytes, acceptor)
            )
        for server in self._servers:
            await server.start()

    async def shutdown(self) -> None:
        for server in reversed(self._servers):
            await server.stop()


FACTORY = Factory(
    kind="receiver",
    type="otlp",
    config=OtlpReceiverConfig,
    signals=frozenset(Signal),
    create=OtlpReceiver,
)
