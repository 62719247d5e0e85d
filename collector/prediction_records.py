"""The ``modeltel.prediction`` records of a logs batch, read once for every processor.

The ``predictions`` and ``drift`` processors both need, per prediction record, its model,
version, sample rate, event time, trace id and body, and whether the body keeps the wire
contract (docs/semconv.md). Walking the decoded protobuf batch costs ~0.4 µs per wrapper object
read, so the batch's wire bytes are decoded a second time into a lean *view*
(:data:`_RequestView`: per record only those fields, the attributes as a map of key to
serialized AnyValue, the body as its serialized AnyValue). :func:`prediction_records` keeps the
result for the batch object during its pipeline call (a context variable, like
``wire.serialized``), so the second processor reads it for free. Body checks are done lazily,
once, and only for records with a model. The same pass keeps the ``modeltel.label`` records
(:class:`LabelRecords`) for the performance processor.

The body check (:func:`text_problem`) uses msgspec Structs: the whole text is validated and no
Python objects are built for the features. Whatever msgspec refuses is classified by the orjson
reference (:func:`payload_problem`), so the reasons are exactly the reference's.
"""

from contextvars import ContextVar
from dataclasses import dataclass, field

import msgspec
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from modeltel.collector import wire
from modeltel.semconv import (
    ATTR_EVENT_NAME,
    ATTR_MODEL_NAME,
    ATTR_MODEL_VERSION,
    LABEL_EVENT,
    PREDICTION_EVENT,
)

# the body contract --------------------------------------------------------------------------


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


def payload_problem(text: str | bytes) -> str | None:
    """The reference check of a body string: why it is not a prediction payload, or None."""
    return decode_payload(text)[1]


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


def body_text(body: bytes) -> bytes | None:
    """The UTF-8 text of a body given as its serialized AnyValue; None when it is not a string."""
    # The usual encoding is the string_value field alone: tag, varint length, UTF-8 text.
    if len(body) > 2 and body[0] == _STRING_VALUE_TAG:
        if body[1] < 0x80:
            start, length = 2, body[1]
        elif body[2] < 0x80:
            start, length = 3, (body[1] & 0x7F) | (body[2] << 7)
        else:
            start, length = 0, -1
        if start + length == len(body):
            return body[start:]
    value = AnyValue.FromString(body)  # anything else: let protobuf say what it holds
    if value.WhichOneof("value") != "string_value":
        return None
    return value.string_value.encode()


# the lean view ------------------------------------------------------------------------------


def _build_view() -> type[Message]:
    """ExportLogsServiceRequest reduced to what the processors read, with the same field numbers.

    KeyValue{key=1, value=2} is wire-compatible with a map entry, so attributes decode into a
    map (protobuf keeps the last of duplicate keys, as a walk would); AnyValues stay bytes.
    """
    kind = descriptor_pb2.FieldDescriptorProto
    view = descriptor_pb2.FileDescriptorProto(
        name="modeltel/prediction_records_view.proto", package="modeltel.prediction_view", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, type[Message], int, str]]) -> Message:
        descriptor = view.message_type.add(name=name)
        for field_name, source, field_type, type_name in fields:
            original = source.DESCRIPTOR.fields_by_name[field_name]
            repeated = original.is_repeated
            field = descriptor.field.add(
                name=field_name,
                number=original.number,
                type=field_type,
                label=kind.LABEL_REPEATED if repeated else kind.LABEL_OPTIONAL,
            )
            if type_name:
                field.type_name = f".{view.package}.{type_name}"
        return descriptor

    message("Request", [("resource_logs", ExportLogsServiceRequest, kind.TYPE_MESSAGE, "Resource")])
    message("Resource", [("scope_logs", ResourceLogs, kind.TYPE_MESSAGE, "Scope")])
    message("Scope", [("log_records", ScopeLogs, kind.TYPE_MESSAGE, "Record")])
    record = message(
        "Record",
        [
            ("time_unix_nano", LogRecord, kind.TYPE_FIXED64, ""),
            ("observed_time_unix_nano", LogRecord, kind.TYPE_FIXED64, ""),
            ("body", LogRecord, kind.TYPE_BYTES, ""),
            ("attributes", LogRecord, kind.TYPE_MESSAGE, "Record.AttributesEntry"),
            ("trace_id", LogRecord, kind.TYPE_BYTES, ""),
            ("event_name", LogRecord, kind.TYPE_STRING, ""),
        ],
    )
    entry = record.nested_type.add(name="AttributesEntry")
    entry.options.map_entry = True
    for name, field_type in (("key", kind.TYPE_STRING), ("value", kind.TYPE_BYTES)):
        number = KeyValue.DESCRIPTOR.fields_by_name[name].number
        entry.field.add(name=name, number=number, type=field_type, label=kind.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(view)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{view.package}.Request"))


_RequestView = _build_view()


def string_value(serialized: bytes | None) -> str:
    """An attribute's string value from its serialized AnyValue ("" when absent or not a string)."""
    return AnyValue.FromString(serialized).string_value if serialized else ""


@dataclass
class LabelRecords:
    """The batch's ``modeltel.label`` records (the performance processor's), read in the same pass."""

    attributes: list = field(default_factory=list)  # per record: key -> serialized AnyValue
    times: list[int] = field(default_factory=list)  # time_unix_nano, else observed, else 0
    bodies: list[bytes] = field(default_factory=list)  # serialized AnyValue

    def __len__(self) -> int:
        return len(self.bodies)


@dataclass
class PredictionRecords:
    """The batch's ``modeltel.prediction`` records as parallel lists, in batch order.

    Attribute values and bodies stay serialized AnyValues: consumers decode each distinct
    attribute value once per batch, and bodies only where they need them."""

    attributes: list  # per record: its attributes, a map of key -> serialized AnyValue
    models: list[bytes | None]  # ml.model.name (None: absent)
    versions: list[bytes | None]
    times: list[int]  # time_unix_nano, else observed_time_unix_nano, else 0
    trace_ids: list[bytes]
    bodies: list[bytes]
    labels: LabelRecords = field(default_factory=LabelRecords)
    _texts: list[bytes | None] | None = field(default=None, repr=False)
    _problems: list[str | None] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.bodies)

    def texts(self) -> list[bytes | None]:
        """Per record, its body's JSON text (None: not a string body); computed once."""
        if self._texts is None:
            self._texts = list(map(body_text, self.bodies))
        return self._texts

    def problems(self) -> list[str | None]:
        """Per record, why its body breaks the contract (None: it keeps it); computed once.
        Records without a model attribute are not looked at (None)."""
        if self._problems is None:
            self._problems = [
                None if model is None else "body_not_json_string" if text is None else text_problem(text)
                for model, text in zip(self.models, self.texts(), strict=True)
            ]
        return self._problems


def _from_view(payload: bytes) -> PredictionRecords:
    view = _RequestView.FromString(payload)
    attributes, times, trace_ids, bodies = [], [], [], []
    labels = LabelRecords()
    for resource_logs in view.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:  # only C-level reads and appends per record
                event_name = record.event_name
                attribute_map = record.attributes
                if event_name != PREDICTION_EVENT:
                    event_name = event_name or string_value(attribute_map.get(ATTR_EVENT_NAME))
                    if event_name == LABEL_EVENT:
                        time_ns = record.time_unix_nano or record.observed_time_unix_nano
                        _add_label(labels, attribute_map, time_ns, record.body)
                    if event_name != PREDICTION_EVENT:
                        continue
                attributes.append(attribute_map)
                times.append(record.time_unix_nano or record.observed_time_unix_nano)
                trace_ids.append(record.trace_id)
                bodies.append(record.body)
    return _records(attributes, times, trace_ids, bodies, labels)


def _add_label(labels: LabelRecords, attributes, time_ns: int, body: bytes) -> None:
    labels.attributes.append(attributes)
    labels.times.append(time_ns)
    labels.bodies.append(body)


def _from_decoded(batch: ExportLogsServiceRequest) -> PredictionRecords:
    """The same lists read from the decoded batch (slower: a wrapper per field read)."""
    attributes, times, trace_ids, bodies = [], [], [], []
    labels = LabelRecords()
    for resource_logs in batch.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attribute_map = {a.key: a.value.SerializeToString() for a in record.attributes}
                event_name = record.event_name or string_value(attribute_map.get(ATTR_EVENT_NAME))
                time_ns = record.time_unix_nano or record.observed_time_unix_nano
                if event_name == LABEL_EVENT:
                    _add_label(labels, attribute_map, time_ns, record.body.SerializeToString())
                if event_name != PREDICTION_EVENT:
                    continue
                attributes.append(attribute_map)
                times.append(time_ns)
                trace_ids.append(record.trace_id)
                bodies.append(record.body.SerializeToString())
    return _records(attributes, times, trace_ids, bodies, labels)


def _records(
    attributes: list, times: list[int], trace_ids: list[bytes], bodies: list[bytes], labels: LabelRecords
) -> PredictionRecords:
    models = [a.get(ATTR_MODEL_NAME) for a in attributes]
    versions = [a.get(ATTR_MODEL_VERSION) for a in attributes]
    return PredictionRecords(attributes, models, versions, times, trace_ids, bodies, labels)


_last: ContextVar[tuple[ExportLogsServiceRequest, PredictionRecords] | None] = ContextVar(
    "modeltel_prediction_records", default=None
)


def prediction_records(batch: ExportLogsServiceRequest) -> PredictionRecords:
    """The prediction records of ``batch``; decoded once per batch object and pipeline call
    (consumers may not modify a batch, docs: component.py, so the result stays true)."""
    last = _last.get()
    if last is not None and last[0] is batch:
        return last[1]
    try:
        records = _from_view(wire.serialized(batch))
    except DecodeError:  # cannot happen for a batch protobuf decoded; kept as a safety net
        records = _from_decoded(batch)
    _last.set((batch, records))
    return records
