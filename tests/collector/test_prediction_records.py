"""One decode per batch, shared by the predictions and drift processors: the lean view reads
exactly what walking the decoded batch reads, is computed once per batch object, and its body
checks give the orjson reference's reasons."""

import asyncio

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from modeltel.collector import prediction_records as shared
from modeltel.collector import wire
from modeltel.collector.component import Host
from modeltel.collector.processors.predictions import PredictionsConfig, PredictionsProcessor
from tests.collector.otlp_batches import logs_request, prediction_batch, prediction_record


def mixed_batch() -> ExportLogsServiceRequest:
    records = list(prediction_batch(40, seed=5).resource_logs[0].scope_logs[0].log_records)
    records += [
        prediction_record({"a": 1.0}, 1, legacy_event_attribute=True, sample_rate=0.25),
        prediction_record({"a": 1.0}, 1, event_name="other.event"),
        prediction_record({"a": 1.0}, 1, model=None, time_unix_nano=0),
        prediction_record({}, 0, body="not json", sample_rate="half"),
        prediction_record({}, 0, body='{"features": [1]}', version=None),
        prediction_record({}, 0, body='{"features": {"a": 1}}'),
    ]
    no_body = prediction_record({"a": 1.0}, 1)
    no_body.ClearField("body")
    number_body = prediction_record({"a": 1.0}, 1)
    number_body.body.CopyFrom(AnyValue(int_value=3))
    return logs_request([*records, no_body, number_body])


def test_lean_view_reads_what_the_decoded_walk_reads() -> None:
    batch = mixed_batch()
    viewed = shared._from_view(batch.SerializeToString())
    walked = shared._from_decoded(batch)
    assert len(viewed) == len(walked) == 40 + 5 + 2  # the other event is not a prediction
    for name in ("models", "versions", "times", "trace_ids", "bodies"):
        assert getattr(viewed, name) == getattr(walked, name), name
    assert [dict(a) for a in viewed.attributes] == [dict(a) for a in walked.attributes]
    assert viewed.texts() == walked.texts()
    assert viewed.problems() == walked.problems()


def test_body_checks_give_the_reference_reasons() -> None:
    records = shared._from_view(mixed_batch().SerializeToString())
    expected = []
    for model, body in zip(records.models, records.bodies, strict=True):
        value = AnyValue.FromString(body)
        if model is None:
            expected.append(None)
        elif value.WhichOneof("value") != "string_value":
            expected.append("body_not_json_string")
        else:
            expected.append(shared.payload_problem(value.string_value))
    assert records.problems() == expected
    assert {"body_not_json", "features_missing", "prediction_missing", "body_not_json_string"} <= set(
        expected
    )


def test_decoded_once_per_batch_object_and_reused_by_the_next_processor() -> None:
    batch = mixed_batch()
    payload = batch.SerializeToString()

    async def run() -> tuple[object, object, object]:
        processor = PredictionsProcessor("predictions", PredictionsConfig(), None)  # type: ignore[arg-type]
        await processor.start(Host())
        token = wire.set_received(batch, payload)
        try:
            processor._observe(batch)  # what the pipeline's first processor does
            first = shared.prediction_records(batch)
            again = shared.prediction_records(batch)  # the drift processor, later in the call
            other = shared.prediction_records(ExportLogsServiceRequest.FromString(payload))
        finally:
            wire.clear(token)
        return first, again, other

    first, again, other = asyncio.run(run())
    assert again is first and first._problems is not None  # body checks done once, kept
    assert other is not first and other.bodies == first.bodies  # another batch object: decoded anew
