"""``predictions`` processor: recognises ``modeltel.prediction`` log records and counts them.

It observes and passes every batch on unchanged, so prediction logs still reach the log
exporters. Records that break the contract in docs/semconv.md are counted by reason in
``modeltel_prediction_records_invalid_total`` and still forwarded: a bad record is never
silently dropped, and never costs the good records of its batch.

Hot path (bench/ingest.py): the records are read from the lean view of
:mod:`modeltel.collector.prediction_records`, shared with the drift processor (one decode per
batch), and bodies are checked there with msgspec, with the orjson reference deciding the
reason of every body msgspec rejects.
"""

import logging
import time
from collections import Counter as Tally

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from prometheus_client import Counter
from pydantic import Field

from modeltel.collector.component import ComponentConfig, Consumer, Factory, Host
from modeltel.collector.prediction_records import prediction_records, string_value
from modeltel.collector.signals import Signal

OVERFLOW_LABEL = "_other"

_log = logging.getLogger("modeltel.collector")


class PredictionsConfig(ComponentConfig):
    max_models: int = Field(
        default=1000,
        ge=1,
        description="Distinct (model, version) series before further ones are counted under '_other'.",
    )


class PredictionsProcessor:
    def __init__(self, component_id: str, config: PredictionsConfig, next_consumer: Consumer) -> None:
        self._id = component_id
        self._config = config
        self._next = next_consumer
        self._series: set[tuple[str, str]] = set()
        self._last_warning: dict[str, float] = {}
        self._records: Counter | None = None
        self._invalid: Counter | None = None

    async def start(self, host: Host) -> None:
        self._records = Counter(
            "modeltel_prediction_records",
            "modeltel.prediction log records received, by model name and version.",
            ["ml_model_name", "ml_model_version"],
            registry=host.registry,
        )
        self._invalid = Counter(
            "modeltel_prediction_records_invalid",
            "modeltel.prediction log records that break the wire contract (docs/semconv.md), by reason.",
            ["reason"],
            registry=host.registry,
        )

    async def shutdown(self) -> None:
        return None

    async def consume(self, signal: Signal, batch: ExportLogsServiceRequest) -> None:
        self._observe(batch)
        await self._next.consume(signal, batch)

    def _observe(self, batch: ExportLogsServiceRequest) -> None:
        records = prediction_records(batch)
        seen = Tally(zip(records.models, records.versions, records.problems(), strict=True))  # counted in C
        counts: Tally[tuple[str, str]] = Tally()
        problems: Tally[str] = Tally()
        for (model_value, version_value, problem), count in seen.items():
            model = string_value(model_value)
            if not model:
                problems["model_name_missing"] += count
                continue
            if problem is not None:
                problems[problem] += count
            counts[self._series_key(model, string_value(version_value))] += count
        self._publish(counts, problems)

    def _publish(self, counts: "Tally[tuple[str, str]]", problems: "Tally[str]") -> None:
        assert self._records is not None and self._invalid is not None
        for (model, version), count in counts.items():
            self._records.labels(model, version).inc(count)
        for reason, count in problems.items():
            self._invalid.labels(reason).inc(count)
            self._warn(reason, count)

    def _series_key(self, model: str, version: str) -> tuple[str, str]:
        key = (model, version)
        if key in self._series:
            return key
        if len(self._series) < self._config.max_models:
            self._series.add(key)
            return key
        return (OVERFLOW_LABEL, OVERFLOW_LABEL)

    def _warn(self, reason: str, count: int) -> None:
        """At most one warning per reason per minute: bad senders must not flood the log."""
        now = time.monotonic()
        if now - self._last_warning.get(reason, -60.0) >= 60.0:
            self._last_warning[reason] = now
            _log.warning("%d modeltel.prediction record(s) invalid: %s (see docs/semconv.md)", count, reason)


FACTORY = Factory(
    kind="processor",
    type="predictions",
    config=PredictionsConfig,
    signals=frozenset({Signal.LOGS}),
    create=PredictionsProcessor,
)
