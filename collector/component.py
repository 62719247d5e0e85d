"""Component model, after the OpenTelemetry Collector's: receivers, processors, exporters.

A component is built by its factory from a validated config, started with the ``Host``
(what the running collector shares with its components), and shut down in reverse order.
Batches are OTLP request messages; a consumer must not modify a batch it did not create,
because the same batch fans out to every pipeline and exporter behind it.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiohttp import web
from google.protobuf.message import Message
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict

from modeltel.collector.selfmetrics import CollectorMetrics
from modeltel.collector.signals import Signal

Kind = Literal["receiver", "processor", "exporter"]
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ComponentConfig(BaseModel):
    """Base for component configs: unknown keys are errors, as in the OTel Collector."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Host:
    """Shared by all components of one collector."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    metrics: CollectorMetrics = field(init=False)
    ready: bool = False
    routes: dict[str, RouteHandler] = field(default_factory=dict)
    """GET handlers served on the telemetry endpoint, by path prefix (see ``add_route``)."""
    post_routes: dict[str, RouteHandler] = field(default_factory=dict)
    """POST handlers, by path prefix (see ``add_route``)."""

    def __post_init__(self) -> None:
        self.metrics = CollectorMetrics.register(self.registry)

    def add_route(self, prefix: str, handler: RouteHandler, method: Literal["GET", "POST"] = "GET") -> None:
        """Serve ``method`` ``prefix`` and everything under ``prefix/`` on the telemetry endpoint
        (e.g. a component's JSON status API); ``request.match_info["tail"]`` holds the rest."""
        routes = self.routes if method == "GET" else self.post_routes
        if not prefix.startswith("/api/") or prefix.endswith("/"):
            raise ValueError(f"component routes live under /api/ without a trailing slash: {prefix!r}")
        if prefix in routes:
            raise ValueError(f"{method} route {prefix!r} is already served by another component")
        routes[prefix] = handler


class Backpressure(Exception):
    """A consumer cannot take the batch now (e.g. an exporter's queue is full); try again later.

    Receivers answer it with a retryable refusal (gRPC ``UNAVAILABLE`` with RetryInfo, HTTP 503
    with Retry-After), so a full queue pushes back on the sender instead of losing data.
    """

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Consumer(Protocol):
    async def consume(self, signal: Signal, batch: Message) -> None:
        """Take ``batch`` or raise; :class:`Backpressure` means "retry later"."""
        ...


class Component(Protocol):
    async def start(self, host: Host) -> None: ...

    async def shutdown(self) -> None: ...


class Receiver(Component, Protocol):
    pass


class Processor(Component, Consumer, Protocol):
    pass


class Exporter(Component, Consumer, Protocol):
    pass


class Fanout:
    """Hands one batch to several consumers in order."""

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self._consumers = tuple(consumers)

    async def consume(self, signal: Signal, batch: Message) -> None:
        for consumer in self._consumers:
            await consumer.consume(signal, batch)


@dataclass(frozen=True)
class Factory:
    """How to build one component type.

    ``create`` receives the component id, its config and, for receivers, the consumer of
    each signal it feeds; for processors, the next consumer.
    """

    kind: Kind
    type: str
    config: type[ComponentConfig]
    signals: frozenset[Signal]
    create: Callable[..., Any]


ReceiverConsumers = Mapping[Signal, Consumer]
