"""The hand-written OTLP log encoding parses into exactly what the protobuf classes build."""

import numpy as np
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from modeltel.agent.telemetry.encoding import LogEvent, Origin, encode_logs
from modeltel.agent.telemetry.log_wire import record_attributes, varint


def reference_encoding(records: list[LogEvent], origin: Origin) -> bytes:
    """The same request built with the opentelemetry-proto classes."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.CopyFrom(origin.resource)
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.CopyFrom(origin.scope)
    for record in records:
        log = scope_logs.log_records.add(
            time_unix_nano=record.time_ns, observed_time_unix_nano=record.time_ns, severity_number=9,
            severity_text="INFO", event_name=record.event_name, body=AnyValue(string_value=record.body),
            attributes=LogRecord.FromString(record.attributes).attributes,
        )  # fmt: skip
        if record.id_key is not None:
            log.attributes.add(key=record.id_key, value=AnyValue(string_value=record.id_value))
        if record.trace_id:
            log.trace_id = record.trace_id.to_bytes(16, "big")
            log.span_id = record.span_id.to_bytes(8, "big")
            log.flags = 1
    return request.SerializeToString()


def test_varint_matches_protobuf() -> None:
    for value in (0, 1, 127, 128, 300, 16383, 16384, 2**21, 2**35 + 7):
        encoded = KeyValue(value=AnyValue(int_value=value)).value.SerializeToString()  # tag 0x18 + varint
        assert varint(value) == encoded[1:]


def test_random_records_parse_to_the_reference_message() -> None:
    rng = np.random.default_rng(3)
    origin = Origin.create(
        {"service.name": "svc", "service.instance.id": "i", "process.pid": 7}, "modeltel.agent", "1"
    )
    churn = {"ml.model.name": "churn", "ml.model.version": "3", "modeltel.sample_rate": 0.5}
    models = [record_attributes(churn), record_attributes({"ml.model.name": "größe-модель"})]
    records = []
    for index in range(300):
        body_length = int(rng.choice([5, 300, 20_000]))  # 1-, 2- and 3-byte length prefixes
        body = '{"features":{"x":"' + "é" * body_length + '"},"prediction":1}'
        traced = bool(rng.integers(0, 2))
        records.append(LogEvent(
            time_ns=int(rng.integers(0, 2**63)),
            event_name="modeltel.prediction" if index % 3 else "modeltel.label",
            body=body, attributes=models[index % 2],
            id_key="modeltel.prediction.id" if index % 5 else None, id_value=f"{index:032x}",
            trace_id=int(rng.integers(1, 2**63)) << 64 if traced else 0, span_id=int(rng.integers(1, 2**63)),
        ))  # fmt: skip
    ours = ExportLogsServiceRequest.FromString(encode_logs(records, origin))
    assert ours == ExportLogsServiceRequest.FromString(reference_encoding(records, origin))
    assert ours.resource_logs[0].resource == Resource(attributes=origin.resource.attributes)
    assert ours.resource_logs[0].scope_logs[0].scope == InstrumentationScope(
        name="modeltel.agent", version="1"
    )


def test_empty_batch_is_a_valid_request() -> None:
    origin = Origin.create({"service.name": "svc"}, "modeltel.agent", "1")
    assert ExportLogsServiceRequest.FromString(
        encode_logs([], origin)
    ) == ExportLogsServiceRequest.FromString(reference_encoding([], origin))
