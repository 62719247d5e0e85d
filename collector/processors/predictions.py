"""``predictions`` processor: recognises ``modeltel.prediction`` log records and counts them.

It observes and passes every batch on unchanged, so prediction logs still reach the log
exporters. Records that break the contract in docs/semconv.md are counted by reason in
``modeltel_prediction_records_invalid_total`` and still forwarded: a bad record is never
silently dropped, and never costs the good records of its batch.

Hot path (bench/ingest.py): walking the decoded batch costs ~0.4 µs per protobuf wrapper
object, and building every body with orjson ~5 µs per record. So the processor decodes the
batch's wire bytes a second time into a lean *view* (:data:`_RequestView`: per record only the
event name, the attributes as a map of key to serialized AnyValue, and the body's serialized
AnyValue), decodes attribute values once per distinct value per batch, and checks the body's
shape with msgspec Structs (the whole text is validated, no Python objects are built for the
features). Every body msgspec rejects is classified by the orjson
reference (:func:`payload_problem`), so the reasons are exactly the reference's, except that
msgspec accepts number literals beyond the double range (``1e400``: valid RFC 8259 text).
"""

import logging
import time
from collections import Counter as Tally

import msgspec
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from prometheus_client import Counter
from pydantic import Field

from modeltel.collector import wire
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


def decode_payload(text: str | bytes) -> tuple[dict | None, str | None]:
    """A body string decoded with orjson (the reference) and why it breaks the contract, if it does.

    The payload is returned whenever it carries a ``features`` object, so consumers that only
    need the features (the drift processor) can use a record whose ``prediction`` is missing."""
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, "body_not_json"
    if not isinstance(payload, dict) or not isinstance(payload.get("features"), dict):
        return None, "features_missing"
    if "prediction" not in payload:
        return payload, "prediction_missing"
    return payload, None


def decode_prediction_body(record: LogRecord) -> tuple[dict | None, str | None]:
    """:func:`decode_payload` of a record's body, which must be a string."""
    if record.body.WhichOneof("value") != "string_value":
        return None, "body_not_json_string"
    return decode_payload(record.body.string_value)


def payload_problem(text: str | bytes) -> str | None:
    """The reference check of a body string: why it is not a prediction payload, or None."""
    return decode_payload(text)[1]


def body_problem(record: LogRecord) -> str | None:
    """Why the body is not a prediction payload, or None when it is."""
    return decode_prediction_body(record)[1]


_ABSENT = msgspec.Raw(b"")


class _JsonObject(msgspec.Struct):
    """Any JSON object: msgspec validates its members as it skips them and builds nothing."""


class _PayloadShape(msgspec.Struct):
    """The two members a prediction body needs; everything else is validated and skipped."""

    features: _JsonObject | None = None
    prediction: msgspec.Raw = _ABSENT


_decode_shape = msgspec.json.Decoder(_PayloadShape).decode


def text_problem(text: bytes) -> str | None:
    """:func:`payload_problem` without building the payload's values.

    Whatever msgspec refuses (not JSON, not an object, features not an object, duplicate
    members, nesting too deep) goes to the orjson reference, so the reason is the reference's.
    """
    try:
        shape = _decode_shape(text)
    except (msgspec.DecodeError, RecursionError):
        return payload_problem(text)
    if shape.features is None:
        return "features_missing"
    if shape.prediction is _ABSENT:
        return "prediction_missing"
    return None


_STRING_VALUE_TAG = 0x0A  # AnyValue.string_value: field 1, length-delimited


def serialized_body_problem(body: bytes) -> str | None:
    """:func:`body_problem` for a body given as its serialized AnyValue."""
    # The usual encoding is the string_value field alone: tag, varint length, UTF-8 text.
    if len(body) > 2 and body[0] == _STRING_VALUE_TAG:
        if body[1] < 0x80:
            start, length = 2, body[1]
        elif body[2] < 0x80:
            start, length = 3, (body[1] & 0x7F) | (body[2] << 7)
        else:
            start, length = 0, -1
        if start + length == len(body):
            text = body[start:]
            try:  # text_problem inlined: this is the per-record hot path
                shape = _decode_shape(text)
            except (msgspec.DecodeError, RecursionError):
                return payload_problem(text)
            if shape.features is None:
                return "features_missing"
            return "prediction_missing" if shape.prediction is _ABSENT else None
    value = AnyValue.FromString(body)  # anything else: let protobuf say what it holds
    if value.WhichOneof("value") != "string_value":
        return "body_not_json_string"
    return text_problem(value.string_value.encode())


def _build_view() -> type[Message]:
    """ExportLogsServiceRequest reduced to what the processor reads, with the same field numbers.

    KeyValue{key=1, value=2} is wire-compatible with a map entry, so attributes decode into a
    map (protobuf keeps the last of duplicate keys, as a walk would); AnyValues stay bytes.
    """
    kind = descriptor_pb2.FieldDescriptorProto
    view = descriptor_pb2.FileDescriptorProto(
        name="modeltel/predictions_view.proto", package="modeltel.predictions_view", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, str]], repeated: set[str]) -> Message:
        descriptor = view.message_type.add(name=name)
        for field_name, number, field_type, type_name in fields:
            label = kind.LABEL_REPEATED if field_name in repeated else kind.LABEL_OPTIONAL
            field = descriptor.field.add(name=field_name, number=number, type=field_type, label=label)
            if type_name:
                field.type_name = f".{view.package}.{type_name}"
        return descriptor

    def number(message_type: type[Message], field_name: str) -> int:
        return message_type.DESCRIPTOR.fields_by_name[field_name].number

    message(
        "Request",
        [("resource_logs", number(ExportLogsServiceRequest, "resource_logs"), kind.TYPE_MESSAGE, "Resource")],
        {"resource_logs"},
    )
    message(
        "Resource",
        [("scope_logs", number(ResourceLogs, "scope_logs"), kind.TYPE_MESSAGE, "Scope")],
        {"scope_logs"},
    )
    message(
        "Scope",
        [("log_records", number(ScopeLogs, "log_records"), kind.TYPE_MESSAGE, "Record")],
        {"log_records"},
    )
    record = message(
        "Record",
        [
            ("body", number(LogRecord, "body"), kind.TYPE_BYTES, ""),
            ("attributes", number(LogRecord, "attributes"), kind.TYPE_MESSAGE, "Record.AttributesEntry"),
            ("event_name", number(LogRecord, "event_name"), kind.TYPE_STRING, ""),
        ],
        {"attributes"},
    )
    entry = record.nested_type.add(name="AttributesEntry")
    entry.options.map_entry = True
    entry.field.add(
        name="key", number=number(KeyValue, "key"), type=kind.TYPE_STRING, label=kind.LABEL_OPTIONAL
    )
    entry.field.add(
        name="value", number=number(KeyValue, "value"), type=kind.TYPE_BYTES, label=kind.LABEL_OPTIONAL
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(view)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{view.package}.Request"))


_RequestView = _build_view()


def _string_value(serialized: bytes | None) -> str:
    """An attribute's string value from its serialized AnyValue ("" when absent or not a string)."""
    return AnyValue.FromString(serialized).string_value if serialized else ""


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
        try:
            view = _RequestView.FromString(wire.serialized(batch))
        except DecodeError:  # cannot happen for a batch protobuf decoded; kept as a safety net
            self._observe_decoded(batch)
            return
        # Per record only C-level reads and one list append; strings are decoded per distinct value.
        keys: list[tuple[bytes | None, bytes | None, str | None]] = []
        for resource_logs in view.resource_logs:
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    attributes = record.attributes
                    event_name = record.event_name
                    if event_name != PREDICTION_EVENT and (
                        event_name or _string_value(attributes.get(ATTR_EVENT_NAME)) != PREDICTION_EVENT
                    ):
                        continue
                    model = attributes.get(ATTR_MODEL_NAME)
                    problem = serialized_body_problem(record.body) if model is not None else None
                    keys.append((model, attributes.get(ATTR_MODEL_VERSION), problem))
        seen = Tally(keys)  # counted in C
        counts: Tally[tuple[str, str]] = Tally()
        problems: Tally[str] = Tally()
        for (model_value, version_value, problem), count in seen.items():
            model = _string_value(model_value)
            if not model:
                problems["model_name_missing"] += count
                continue
            if problem is not None:
                problems[problem] += count
            counts[self._series_key(model, _string_value(version_value))] += count
        self._publish(counts, problems)

    def _observe_decoded(self, batch: ExportLogsServiceRequest) -> None:
        """The same counts read from the decoded batch (slower: a wrapper per field read)."""
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
