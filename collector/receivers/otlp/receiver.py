"""OTLP receiver: config, factory, and the accept path both transports share.

A request is acknowledged (the sender gets a success response) only after every pipeline
of its signal took the batch, which for an exporter with a sending queue means the batch
is in that queue (committed to disk with a persistent queue). Records whose trace or span
ids have the wrong length are removed and reported back as OTLP partial success; the rest
of the request is accepted.
"""

import time

from google.protobuf.message import Message
from pydantic import Field

from modeltel.collector import wire
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
        for signal in consumers:  # series exist at 0 from the start, so rate() alerts see them
            host.metrics.receiver_refused.labels(receiver_id, transport, signal.value)
            host.metrics.receiver_dropped.labels(receiver_id, transport, signal.value, "invalid_id_length")

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

    async def accept(self, signal: Signal, batch: Message, payload: bytes | None = None) -> Message:
        """Hand ``batch`` on; returns the OTLP response, with partial success for dropped items.

        ``payload`` is the protobuf ``batch`` was decoded from, if any: exporters reuse it
        while the batch is unchanged (:mod:`modeltel.collector.wire`).
        """
        started = time.perf_counter()
        signal_type = SIGNAL_TYPES[signal]
        response = signal_type.response()
        dropped = remove_invalid_items(signal, batch)
        if dropped:
            self._host.metrics.receiver_dropped.labels(
                self._receiver_id, self._transport, signal.value, "invalid_id_length"
            ).inc(dropped)
            partial = response.partial_success  # type: ignore[attr-defined]
            setattr(partial, REJECTED_FIELD[signal], dropped)
            partial.error_message = (
                f"{dropped} {signal_type.item} rejected: trace_id must be 16 bytes and span ids 8 bytes"
            )
        items = signal_type.count_items(batch)
        if items:
            token = wire.set_received(batch, payload) if payload is not None and not dropped else None
            try:
                await self._consumers[signal].consume(signal, batch)
            except Exception:
                self.refuse(signal, items)
                raise
            finally:
                if token is not None:
                    wire.clear(token)
        labels = (self._receiver_id, self._transport, signal.value)
        self._host.metrics.receiver_accepted.labels(*labels).inc(items)
        self._host.metrics.receiver_processing.labels(*labels).observe(time.perf_counter() - started)
        return response


REJECTED_FIELD = {
    Signal.TRACES: "rejected_spans",
    Signal.METRICS: "rejected_data_points",
    Signal.LOGS: "rejected_log_records",
}


def _keep(items: "list[Message]", valid: "list[bool]") -> int:
    """Delete the items whose flag is False from a repeated field; returns how many went."""
    bad = [index for index, ok in enumerate(valid) if not ok]
    for index in reversed(bad):
        del items[index]
    return len(bad)


def remove_invalid_items(signal: Signal, batch: Message) -> int:
    """Drop log records and spans whose ids have the wrong length (OTLP: 16/8 bytes, or empty)."""
    removed = 0
    if signal is Signal.LOGS:
        for resource in batch.resource_logs:  # type: ignore[attr-defined]
            for scope in resource.scope_logs:
                records = scope.log_records
                valid = [len(r.trace_id) in (0, 16) and len(r.span_id) in (0, 8) for r in records]
                if not all(valid):
                    removed += _keep(records, valid)
    elif signal is Signal.TRACES:
        for resource in batch.resource_spans:  # type: ignore[attr-defined]
            for scope in resource.scope_spans:
                spans = scope.spans
                valid = [
                    len(s.trace_id) == 16 and len(s.span_id) == 8 and len(s.parent_span_id) in (0, 8)
                    for s in spans
                ]
                if not all(valid):
                    removed += _keep(spans, valid)
    return removed


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
