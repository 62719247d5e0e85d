"""What every network exporter shares, after the OpenTelemetry Collector's exporterhelper.

``consume`` serializes the batch and puts it in the sending queue (memory or persistent);
``num_consumers`` tasks take queued requests, merge consecutive ones of a signal up to
``batch.max_size`` items (serialized OTLP requests concatenate into one valid request),
send them with ``timeout``, retry retryable failures with backoff and acknowledge them.
A full queue raises :class:`Backpressure` to the receiver: nothing is dropped silently.

Config keys mirror the OTel Collector's ``sending_queue``, ``retry_on_failure`` and ``timeout``.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from pydantic import Field

from modeltel.collector import wire
from modeltel.collector.component import Backpressure, ComponentConfig, Host
from modeltel.collector.selfmetrics import CollectorMetrics
from modeltel.collector.signals import SIGNAL_TYPES, Signal
from modeltel.exporters.queue import Entry, MemoryQueue, PersistentQueue, QueueFull, SendingQueue, Sizer
from modeltel.exporters.retry import Backoff, PermanentError, RetryableError, RetryConfig

_log = logging.getLogger("modeltel.collector.exporter")

SendFunction = Callable[[Signal, bytes, int], Awaitable[int]]
"""Sends one serialized request of ``items`` items; returns how many the backend rejected."""

WARNING_INTERVAL = 60.0


class StorageConfig(ComponentConfig):
    directory: Path = Field(description="State directory; one SQLite file per exporter id.")
    fsync: bool = Field(
        default=False,
        description="fsync every commit (survives power loss); off, a commit survives a process crash.",
    )


class QueueConfig(ComponentConfig):
    enabled: bool = True
    num_consumers: int = Field(default=2, ge=1, le=64)
    queue_size: int = Field(default=256, gt=0, description="Capacity, in units of sizer.")
    sizer: Sizer = "requests"
    storage: StorageConfig | None = None


class BatchConfig(ComponentConfig):
    max_size: int = Field(default=8192, gt=0, description="Most items merged into one outgoing request.")
    max_bytes: int = Field(
        default=4_000_000,
        gt=0,
        description="Most bytes merged into one request: under the 4 MiB gRPC receive limit of "
        "the OTel Collector and Jaeger. A larger single request is sent alone.",
    )


class SendingConfig(ComponentConfig):
    """The exporterhelper settings every network exporter's config includes."""

    timeout: float = Field(default=5.0, gt=0, description="Seconds for one send attempt.")
    sending_queue: QueueConfig = QueueConfig()
    retry_on_failure: RetryConfig = RetryConfig()
    batch: BatchConfig = BatchConfig()


def state_file(directory: Path, exporter_id: str) -> Path:
    return directory / f"{exporter_id.replace('/', '__')}.sqlite"


class QueueSender:
    """Queue, batching, retries and self-metrics around an exporter's ``send``."""

    def __init__(
        self, exporter_id: str, config: SendingConfig, send: SendFunction, signals: frozenset[Signal]
    ) -> None:
        self._id = exporter_id
        self._signals = signals
        self._config = config
        self._send = send
        self._queue: SendingQueue | None = None
        self._consumers: list[asyncio.Task[None]] = []
        self._metrics: CollectorMetrics | None = None
        self._rng = random.Random()
        self._last_warning: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    async def start(self, host: Host) -> None:
        self._metrics = host.metrics
        for signal in self._signals:  # series exist at 0 from the start, so rate() alerts work
            host.metrics.exporter_sent.labels(self._id, signal.value)
            host.metrics.exporter_failed.labels(self._id, signal.value)
            for reason in ("retries_exhausted", "permanent_error"):
                host.metrics.exporter_dropped.labels(self._id, signal.value, reason)
        queue_config = self._config.sending_queue
        if not queue_config.enabled:
            return
        if queue_config.storage is not None:
            path = state_file(queue_config.storage.directory, self._id)
            self._queue = PersistentQueue(
                path, queue_config.queue_size, queue_config.sizer, queue_config.storage.fsync
            )
            await self._queue.open()
            if self._queue.size:
                _log.info(
                    "%s: resuming %d queued %s from %s", self._id, self._queue.size, queue_config.sizer, path
                )
        else:
            self._queue = MemoryQueue(queue_config.queue_size, queue_config.sizer)
        host.metrics.exporter_queue_capacity.labels(self._id).set(self._queue.capacity)
        self._update_queue_size()
        self._consumers = [
            asyncio.create_task(self._consume_queue()) for _ in range(queue_config.num_consumers)
        ]

    async def shutdown(self) -> None:
        queue = self._queue
        if queue is not None and isinstance(queue, MemoryQueue):
            # Memory is lost at exit: give the consumers one send timeout to drain it.
            deadline = time.monotonic() + self._config.timeout
            while queue.pending() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if queue is None:
            return
        if isinstance(queue, MemoryQueue):
            for entry in queue.pending():
                self._count_dropped(entry.signal, entry.items, "shutdown")
        else:
            _log.info("%s: %d queued %s kept on disk for the next start", self._id, queue.size,
                      self._config.sending_queue.sizer)  # fmt: skip
        await queue.close()

    async def consume(self, signal: Signal, batch: Message) -> None:
        items = SIGNAL_TYPES[signal].count_items(batch)
        if items == 0:
            return
        payload = wire.serialized(batch)
        if self._queue is None:
            if not await self._deliver(signal, payload, items, queued=False):  # the sender retries
                raise Backpressure(f"{self._id}: delivery failed", self._retry_hint())
            return
        try:
            await self._queue.put(signal, items, payload)
        except QueueFull as error:
            raise Backpressure(f"{self._id}: {error}", retry_after=self._retry_hint()) from None
        self._update_queue_size()

    async def _consume_queue(self) -> None:
        assert self._queue is not None
        while True:
            try:
                entries = await self._queue.take(self._config.batch.max_size, self._config.batch.max_bytes)
                for signal, run in _runs_by_signal(entries):
                    payload = run[0].payload if len(run) == 1 else b"".join(entry.payload for entry in run)
                    await self._deliver(signal, payload, sum(entry.items for entry in run))
                await self._queue.ack(entries)  # delivered, or given up on and counted as dropped
                self._update_queue_size()
            except Exception:  # e.g. the state directory failed: keep the consumer alive
                _log.exception("%s: sending queue error", self._id)
                await asyncio.sleep(1.0)

    async def _deliver(self, signal: Signal, payload: bytes, items: int, queued: bool = True) -> bool:
        """Send with retries; True when delivered, False when given up on.

        Queued items given up on are lost and counted as dropped; without a queue the
        receiver refuses the request instead, and the sender still holds the data.
        """
        assert self._metrics is not None
        backoff = Backoff(self._config.retry_on_failure, self._rng)
        while True:
            try:
                rejected = await asyncio.wait_for(self._send(signal, payload, items), self._config.timeout)
            except PermanentError as error:
                self._metrics.exporter_failed.labels(self._id, signal.value).inc(items)
                self._count_dropped(signal, items if queued else 0, "permanent_error")
                self._warn("drop", "%s: backend refused %d %s for good, dropped: %s", self._id, items,
                           SIGNAL_TYPES[signal].item, error)  # fmt: skip
                return False
            except (RetryableError, asyncio.TimeoutError) as error:
                self._metrics.exporter_failed.labels(self._id, signal.value).inc(items)
                retry_after = error.retry_after if isinstance(error, RetryableError) else None
                delay = backoff.next_delay(retry_after)
                if delay is None:
                    self._count_dropped(signal, items if queued else 0, "retries_exhausted")
                    self._warn("drop", "%s: giving up on %d %s after %.0fs of retries: %s", self._id, items,
                               SIGNAL_TYPES[signal].item, backoff.elapsed, error or "timeout")  # fmt: skip
                    return False
                self._warn(
                    "retry", "%s: send failed, retrying in %.1fs: %s", self._id, delay, error or "timeout"
                )
                await asyncio.sleep(delay)
                continue
            except Exception:
                _log.exception(
                    "%s: exporter error; %d %s dropped", self._id, items, SIGNAL_TYPES[signal].item
                )
                self._metrics.exporter_failed.labels(self._id, signal.value).inc(items)
                self._count_dropped(signal, items if queued else 0, "exporter_error")
                return False
            if rejected:
                self._count_dropped(signal, rejected, "rejected_by_backend")
            self._metrics.exporter_sent.labels(self._id, signal.value).inc(items - rejected)
            return True

    def _retry_hint(self) -> float:
        """The delay suggested to a refused sender: short, because SDKs retry a fixed number
        of times within their export timeout (the Python SDK: 6 tries, 10 s by default)."""
        return min(self._config.retry_on_failure.initial_interval, 1.0)

    def _count_dropped(self, signal: Signal, items: int, reason: str) -> None:
        if self._metrics is not None and items:
            self._metrics.exporter_dropped.labels(self._id, signal.value, reason).inc(items)

    def _update_queue_size(self) -> None:
        if self._metrics is not None and self._queue is not None:
            self._metrics.exporter_queue_size.labels(self._id).set(self._queue.size)

    def _warn(self, kind: str, message: str, *args: object) -> None:
        """At most one warning of a kind a minute: an absent backend must not flood the log."""
        now = time.monotonic()
        if now - self._last_warning.get(kind, -WARNING_INTERVAL) < WARNING_INTERVAL:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        if self._suppressed.get(kind):
            message += " (%d similar messages suppressed)"
            args = (*args, self._suppressed[kind])
        self._last_warning[kind], self._suppressed[kind] = now, 0
        _log.warning(message, *args)


def _runs_by_signal(entries: list[Entry]) -> list[tuple[Signal, list[Entry]]]:
    runs: list[tuple[Signal, list[Entry]]] = []
    for entry in entries:
        if runs and runs[-1][0] == entry.signal:
            runs[-1][1].append(entry)
        else:
            runs.append((entry.signal, [entry]))
    return runs


class QueuedExporter:
    """The lifecycle of an exporter that sends through a ``QueueSender`` over a transport:
    the transport opens before the queue starts draining and closes after it has drained."""

    _transport: Any
    _sender: QueueSender

    async def start(self, host: Host) -> None:
        await self._transport.start()
        await self._sender.start(host)

    async def shutdown(self) -> None:
        await self._sender.shutdown()
        await self._transport.stop()

    async def consume(self, signal: Signal, batch: Message) -> None:
        await self._sender.consume(signal, batch)
