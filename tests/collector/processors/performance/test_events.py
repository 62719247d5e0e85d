"""Reading a batch's predictions and labels from the shared lean decode: ids read for the whole
batch agree with the per-id reading, and unusable records are counted by the same reasons."""

import secrets
import uuid

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from modeltel.collector.processors.performance.events import decode_events, prediction_ids
from modeltel.collector.processors.performance.label_values import prediction_id_bytes
from tests.collector.otlp_batches import logs_request
from tests.collector.processors.performance.otlp_events import label, prediction

NOW = 1_700_000_000 * 10**9


def serialized(text: str) -> bytes:
    return AnyValue(string_value=text).SerializeToString()


def test_batch_ids_match_the_one_by_one_reading() -> None:
    good = [secrets.token_hex(16) for _ in range(50)]
    assert prediction_ids([serialized(i) for i in good]) == [bytes.fromhex(i) for i in good]
    odd = [good[0].upper(), str(uuid.uuid4()), "ab" * 15 + " c", "zz" * 16, "", good[1][:-1], "é" * 32]
    for mixed in ([*good[:3], text] for text in odd):  # one odd id sends the batch one by one
        expected = [prediction_id_bytes(text) for text in mixed]
        assert prediction_ids([serialized(text) for text in mixed]) == expected
    assert prediction_ids([None, serialized(good[2])]) == [None, bytes.fromhex(good[2])]
    number = AnyValue(int_value=7).SerializeToString()
    assert prediction_ids([number]) == [None]


def test_mixed_batch_keeps_order_groups_and_reasons() -> None:
    ids = [secrets.token_hex(16) for _ in range(8)]
    no_model = prediction(ids[3], 1, NOW, model="")
    not_string = prediction(ids[4], 1, NOW)
    not_string.body.CopyFrom(AnyValue(int_value=3))
    not_json = prediction(ids[5], 1, NOW)
    not_json.body.CopyFrom(AnyValue(string_value="{not json"))
    rated = prediction(ids[6], True, NOW, {"0": 0.5, "1": 0.5})
    rated.attributes.append(KeyValue(key="modeltel.sample_rate", value=AnyValue(double_value=0.25)))
    bad_rate = prediction(ids[7], [1, 2], 0)
    bad_rate.attributes.append(KeyValue(key="modeltel.sample_rate", value=AnyValue(double_value=2.0)))
    records = [
        prediction(ids[0], 1, NOW + 10**6, {"0": 0.2, "1": 0.8}),
        label(ids[0], 1, NOW + 5 * 10**9),
        prediction(ids[1], "b", NOW, model="other", version="2"),
        prediction("not-an-id", 1, NOW),
        label("not-an-id", 1, NOW),
        label(ids[1], None, NOW),
        label(ids[2], True, 0),
        label(ids[3], 1, NOW, body="{bad"),
        no_model, not_string, not_json, rated, bad_rate,
    ]  # fmt: skip
    decoded = decode_events(logs_request(records))
    first = decoded.predictions[("m", "1")]
    assert first.ids == [bytes.fromhex(ids[0]), bytes.fromhex(ids[6]), bytes.fromhex(ids[7])]
    assert first.times_ms[0] == NOW // 10**6 + 1
    assert first.predictions == [1, "True", None]
    assert first.probabilities == [{"0": 0.2, "1": 0.8}, {"0": 0.5, "1": 0.5}, None]
    assert first.weights == [None, 4.0, None]
    assert decoded.predictions[("other", "2")].predictions == ["b"]
    first_label, second_label = decoded.labels.items
    assert first_label == (bytes.fromhex(ids[0]), 1, NOW // 10**6 + 5000)
    assert second_label[:2] == (bytes.fromhex(ids[2]), "True")  # no time: the arrival
    assert dict(decoded.invalid) == {
        "prediction_id_invalid": 1, "label_id_invalid": 1, "label_missing": 1, "label_body_not_json": 1,
        "model_name_missing": 1,
        "prediction_body_not_json_string": 1, "prediction_body_not_json": 1, "sample_rate_invalid": 1,
        "prediction_not_scalar": 1,
    }  # fmt: skip
