"""``debug`` exporter: tells the operator what arrives.

``basic`` logs one summary line per signal and interval (items and batches), quiet enough
for a sidecar; ``detailed`` logs every batch as OTLP/JSON (hex ids, as Jaeger and Loki show
them), for debugging a sender.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Literal

from google.protobuf.message import Message
from pydantic import Field

from modeltel.collector import otlp_json
from modeltel.collector.component import ComponentConfig, Factory, Host
from modeltel.collector.signals import SIGNAL_TYPES, Signal

_log = logging.getLogger("modeltel.collector.debug")


class DebugConfig(ComponentConfig):
    verbosity: Literal["basic", "detailed"] = "basic"
    interval_seconds: float = Field(default=10.0, gt=0)


class DebugExporter:
    def __init__(self, component_id: str, config: DebugConfig) -> None:
        self._id = component_id
        self._config = config
        self._items: Counter[Signal] = Counter()
        self._batches: Counter[Signal] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._host: Host | None = None

    async def start(self, host: Host) -> None:
        self._host = host
        self._task = asyncio.create_task(self._report_periodically())

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._report()

    async def consume(self, signal: Signal, batch: Message) -> None:
        items = SIGNAL_TYPES[signal].count_items(batch)
        self._items[signal] += items
        self._batches[signal] += 1
        if self._config.verbosity == "detailed":
            _log.info("%s %s batch: %s", self._id, signal.value, otlp_json.dumps(batch))
        if self._host is not None:
            self._host.metrics.exporter_sent.labels(self._id, signal.value).inc(items)

    async def _report_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._config.interval_seconds)
            self._report()

    def _report(self) -> None:
        for signal in Signal:
            if self._batches[signal]:
                _log.info(
                    "%s: %d %s in %d batches over the last %.0fs",
                    signal.value,
                    self._items[signal],
                    SIGNAL_TYPES[signal].item,
                    self._batches[signal],
                    self._config.interval_seconds,
                )
        self._items.clear()
        self._batches.clear()


FACTORY = Factory(
    kind="exporter", type="debug", config=DebugConfig, signals=frozenset(Signal), create=DebugExporter
)
