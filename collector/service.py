"""Builds the configured pipelines and runs them until told to stop.

As in the OpenTelemetry Collector: one exporter instance per exporter id, shared by the
pipelines that list it; processors instantiated per pipeline; one receiver instance per
receiver id, fanning each signal out to every pipeline of that signal that lists it.
Start order is exporters, processors, receivers; shutdown is the reverse, so nothing is
accepted that cannot be delivered.
"""

import asyncio
import logging
import signal as os_signal
from collections import defaultdict

from prometheus_client import disable_created_metrics

from modeltel.collector.component import Component, Consumer, Fanout, Host
from modeltel.collector.config import CollectorConfig, pipeline_signal
from modeltel.collector.signals import Signal
from modeltel.collector.telemetry_server import TelemetryServer

_log = logging.getLogger("modeltel.collector")


class Service:
    def __init__(self, config: CollectorConfig) -> None:
        disable_created_metrics()  # *_created series double every counter and say nothing here
        self.config = config
        self.host = Host()
        self._exporters: dict[str, Component] = {}
        self._processors: list[Component] = []
        self._receivers: list[Component] = []
        self._telemetry = TelemetryServer(config.telemetry.address, self.host)
        self._build()

    def _build(self) -> None:
        config = self.config
        entry_points: dict[str, dict[Signal, list[Consumer]]] = defaultdict(lambda: defaultdict(list))
        for pipeline_id, pipeline in config.pipelines.items():
            signal = pipeline_signal(pipeline_id)
            exporters: list[Consumer] = []
            for exporter_id in pipeline.exporters:
                if exporter_id not in self._exporters:
                    settings = config.exporters[exporter_id]
                    self._exporters[exporter_id] = settings.factory.create(exporter_id, settings.config)
                exporters.append(self._exporters[exporter_id])  # type: ignore[arg-type]
            head: Consumer = exporters[0] if len(exporters) == 1 else Fanout(exporters)
            for processor_id in reversed(pipeline.processors):
                settings = config.processors[processor_id]
                processor = settings.factory.create(processor_id, settings.config, head)
                self._processors.append(processor)
                head = processor
            for receiver_id in pipeline.receivers:
                entry_points[receiver_id][signal].append(head)
        for receiver_id, by_signal in entry_points.items():
            settings = config.receivers[receiver_id]
            consumers = {
                signal: heads[0] if len(heads) == 1 else Fanout(heads) for signal, heads in by_signal.items()
            }
            self._receivers.append(settings.factory.create(receiver_id, settings.config, consumers))

    async def start(self) -> None:
        await self._telemetry.start()
        for component in [*self._exporters.values(), *self._processors, *self._receivers]:
            await component.start(self.host)
        self.host.ready = True
        _log.info("collector ready: pipelines %s", ", ".join(self.config.pipelines))

    async def shutdown(self) -> None:
        self.host.ready = False
        for component in [*reversed(self._receivers), *reversed(self._processors), *self._exporters.values()]:
            try:
                await component.shutdown()
            except Exception:
                _log.exception("error while shutting down a component")
        await self._telemetry.stop()

    async def run(self) -> None:
        """Start, wait for SIGINT or SIGTERM, shut down."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (os_signal.SIGINT, os_signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await self.start()
            await stop.wait()
            _log.info("shutting down")
        finally:
            await self.shutdown()
