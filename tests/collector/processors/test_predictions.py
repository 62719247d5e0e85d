"""The predictions processor in a running collector: counts, contract checks, pass-through."""

import httpx

from tests.collector.otlp_batches import logs_request, prediction_record
from tests.conftest import Collector


def send(collector: Collector, records: list) -> None:
    response = httpx.post(
        f"{collector.otlp_http}/v1/logs",
        content=logs_request(records).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200


def test_counts_per_model_and_version_and_flags_contract_breaks(collector: Collector) -> None:
    good = {"features": {"a": 1.0}, "prediction": 1}
    send(
        collector,
        [
            prediction_record(good["features"], 1, model="churn", version="3"),
            prediction_record(good["features"], 0, model="churn", version="4"),
            prediction_record(good["features"], 0, model="churn", version=None),
            prediction_record(good["features"], 0, model="legacy", legacy_event_attribute=True),
            prediction_record(good["features"], 0, model=None),
            prediction_record({}, 0, model="churn", version="3", body="not json"),
            prediction_record({}, 0, model="churn", version="3", body='{"prediction": 1}'),
            prediction_record({}, 0, model="churn", version="3", body='{"features": {"a": 1}}'),
            prediction_record(good["features"], 0, model="other", event_name="app.log"),
            prediction_record(good["features"], 0, model="other", event_name=None),
        ],
    )
    value = collector.value
    assert value("modeltel_prediction_records_total", ml_model_name="churn", ml_model_version="3") == 4
    assert value("modeltel_prediction_records_total", ml_model_name="churn", ml_model_version="4") == 1
    assert value("modeltel_prediction_records_total", ml_model_name="churn", ml_model_version="") == 1
    assert value("modeltel_prediction_records_total", ml_model_name="legacy") == 1
    assert value("modeltel_prediction_records_total", ml_model_name="other") == 0
    assert value("modeltel_prediction_records_invalid_total", reason="model_name_missing") == 1
    assert value("modeltel_prediction_records_invalid_total", reason="body_not_json") == 1
    assert value("modeltel_prediction_records_invalid_total", reason="features_missing") == 1
    assert value("modeltel_prediction_records_invalid_total", reason="prediction_missing") == 1
    # Every record, valid or not, went on to the exporters.
    assert value("modeltel_exporter_sent_total", exporter="debug", signal="logs") == 10
