"""OTLP/HTTP receiver against a running collector: good and bad requests over a real socket."""

import gzip
import json
import os

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from tests.collector.otlp_batches import prediction_batch
from tests.conftest import Collector

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def post(collector: Collector, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{collector.otlp_http}{path}", content=body, headers=headers, timeout=10)


def assert_still_serving(collector: Collector) -> None:
    before = collector.value("modeltel_receiver_accepted_total", signal="logs", transport="http")
    response = post(collector, "/v1/logs", prediction_batch(3).SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    assert collector.value("modeltel_receiver_accepted_total", signal="logs", transport="http") == before + 3


def status_of(response: httpx.Response) -> status_pb2.Status:
    return status_pb2.Status.FromString(response.content)


def test_protobuf_and_gzip_batches_are_accepted(collector: Collector) -> None:
    body = prediction_batch(10).SerializeToString()
    response = post(collector, "/v1/logs", body, PROTOBUF)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/x-protobuf")
    ExportLogsServiceResponse.FromString(response.content)
    response = post(collector, "/v1/logs", gzip.compress(body), {**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert collector.value("modeltel_receiver_accepted_total", signal="logs") == 20
    assert (
        collector.value("modeltel_prediction_records_total", ml_model_name="churn", ml_model_version="3")
        == 20
    )


def test_json_with_hex_ids_is_accepted(collector: Collector) -> None:
    document = {
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeLogs": [{"logRecords": [{
                "timeUnixNano": "1700000000000000000",
                "eventName": "modeltel.prediction",
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": "eee19b7ec3c1b174",
                "body": {"stringValue": json.dumps({"features": {"a": 1}, "prediction": 0})},
                "attributes": [{"key": "ml.model.name", "value": {"stringValue": "json-model"}}],
                "unknownFutureField": True,
            }]}],
        }]
    }  # fmt: skip
    response = post(collector, "/v1/logs", json.dumps(document).encode(), JSON)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {}
    assert collector.value("modeltel_prediction_records_total", ml_model_name="json-model") == 1


def test_malformed_protobuf_is_400_with_status(collector: Collector) -> None:
    response = post(collector, "/v1/logs", b"\x0a\xff\xff\xff\xff\x0f garbage", PROTOBUF)
    assert response.status_code == 400
    assert "malformed protobuf" in status_of(response).message
    assert collector.value("modeltel_receiver_rejected_requests_total", code="400") == 1
    assert_still_serving(collector)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"resourceLogs": "nope"}', "invalid OTLP/JSON"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}', "hex-encoded"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "abcd"}]}]}]}', "16 bytes"),
        (
            b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}',
            "invalid OTLP/JSON",
        ),
    ],
)
def test_bad_json_is_400_with_json_status(collector: Collector, body: bytes, message: str) -> None:
    response = post(collector, "/v1/logs", body, JSON)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert_still_serving(collector)


def test_wrong_content_type_is_415(collector: Collector) -> None:
    response = post(collector, "/v1/traces", b"hello", {"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "unsupported Content-Type 'text/plain'" in status_of(response).message
    response = post(collector, "/v1/logs", b"x", {**PROTOBUF, "Content-Encoding": "br"})
    assert response.status_code == 415
    assert_still_serving(collector)


def test_oversized_bodies_are_413(collector: Collector) -> None:
    limit = collector.config["receivers"]["otlp"]["protocols"]["http"]["max_request_bytes"]
    response = post(collector, "/v1/logs", os.urandom(limit + 1), PROTOBUF)
    assert response.status_code == 413
    bomb = gzip.compress(b"\0" * (limit * 4))  # a few KiB that inflate past the limit
    assert len(bomb) < limit
    response = post(collector, "/v1/logs", bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in status_of(response).message
    assert_still_serving(collector)


def test_truncated_gzip_is_400(collector: Collector) -> None:
    body = gzip.compress(prediction_batch(5).SerializeToString())
    response = post(collector, "/v1/logs", body[: len(body) // 2], {**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in status_of(response).message
    assert_still_serving(collector)


def test_unknown_paths_and_methods(collector: Collector) -> None:
    assert post(collector, "/v1/profiles", b"", PROTOBUF).status_code == 404
    assert httpx.get(f"{collector.otlp_http}/v1/logs").status_code == 405
    assert_still_serving(collector)
