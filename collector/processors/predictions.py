"""``predictions`` processor: recognises ``modeltel.prediction`` log records and counts them.

It observes and passes every batch on unchanged, so prediction logs still reach the log
exporters. Records that break the contract in docs/semconv.md are counted by reason in
``modeltel_prediction_records_invalid_total`` and still forwarded: a bad record is never
silently dropped, and never costs the good records of its batch.
"""

import logging
import time
from collections import Counter as Tally

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from prometheus_client import Counter
from pydantic import Field

from modeltel.collector.component import ComponentConfig, Consumer, Factory, Host
from modeltel.collector.signals import Signal
from modeltel.semconv import ATTR_EVENT_NAME, ATTR_MODEL_NAME, ATTR_MODEL_VERSION, PREDICTION_EVENT

OVERFLOW_LABEL = "_other"

_log = logging.getLogger("modeltel.collector")


class PredictionsConfig(ComponentConfig):
    max_models: int = Field(
        default=1000,
        ge=1,
        description="Distinct (model, version) series before further ones are counted under '_other'.",
    )


def _string_attributes(attributes: "list[KeyValue]", wanted: frozenset[str]) -> dict[str, str]:
    found = {}
    for attribute in attributes:
        if attribute.key in wanted:
            found[attribute.key] = attribute.value.string_value
    return found


_WANTED = frozenset({ATTR_MODEL_NAME, ATTR_MODEL_VERSION, ATTR_EVENT_NAME})


def decode_prediction_body(record: LogRecord) -> tuple[dict | None, str | None]:
    """The decoded body and why it breaks the contract (None when it does not).

    The payload is returned whenever it carries a ``features`` object, so consumers that only
    need the features (the drift processor) can use a record whose ``prediction`` is missing."""
    if record.body.WhichOneof("value") != "string_value":
        return None, "body_not_json_string"
    try:
        payload = orjson.loads(record.body.string_value)
    except orjson.JSONDecodeError:
        return None, "body_not_json"
    if not isinstance(payload, dict) or not isinstance(payload.get("features"), dict):
        return None, "features_missing"
    if "prediction" not in payload:
        return payload, "prediction_missing"
    return payload, None


def body_problem(record: LogRecord) -> str | None:
    """Why the body is not a prediction payload, or None when it is."""
    return decode_prediction_body(record)[1]


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
        counts: Tally[tuple[str, str]] = Tally()
        problems: Tally[str] = Tally()
        for resource_logs in batch.resource_logs:
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    attributes = _string_attributes(record.attributes, _WANTED)
                    event_name = record.event_name or attributes.get(ATTR_EVENT_NAME, "")
                    if event_name != PREDICTION_EVENT:
                        continue
                    model = attributes.get(ATTR_MODEL_NAME, "")
                    if not model:
                        problems["model_name_missing"] += 1
                        continue
                    problem = body_problem(record)
                    if problem is not None:
                        problems[problem] += 1
                    counts[self._series_key(model, attributes.get(ATTR_MODEL_VERSION, ""))] += 1
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
