"""Per-record problems in otherwise good requests: partial success, non-finite values, latency metric."""

import math

import grpc
import httpx
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.collector.otlp_batches import prediction_batch
from tests.conftest import Collector

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def test_records_with_wrong_id_lengths_are_rejected_by_partial_success(collector: Collector) -> None:
    batch = prediction_batch(6)
    records = batch.resource_logs[0].scope_logs[0].log_records
    records[1].trace_id = b"\x01" * 5
    records[4].span_id = b"\x02" * 9
    records[5].trace_id = b""  # no trace context is fine
    response = httpx.post(
        f"{collector.otlp_http}/v1/logs", content=batch.SerializeToString(), headers=PROTOBUF, timeout=10
    )
    assert response.status_code == 200
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_log_records == 2
    assert "trace_id must be 16 bytes" in partial.error_message
    assert collector.value("modeltel_receiver_accepted_total", signal="logs") == 4
    assert collector.value("modeltel_receiver_dropped_total", reason="invalid_id_length") == 2
    assert collector.value("modeltel_prediction_records_total", ml_model_name="churn") == 4


def test_spans_with_wrong_ids_over_grpc_get_partial_success(collector: Collector) -> None:
    good = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="ok")
    bad = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 4, name="short span id")
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[good, bad, Span(name="no ids")])])]
    )
    with grpc.insecure_channel(collector.otlp_grpc) as channel:
        response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=10)
    assert response.partial_success.rejected_spans == 2
    assert collector.value("modeltel_receiver_accepted_total", signal="traces", transport="grpc") == 1


def test_non_finite_values_are_accepted_as_data_not_errors(collector: Collector) -> None:
    points = [NumberDataPoint(as_double=value) for value in (math.nan, math.inf, -math.inf, 1.5)]
    metric = Metric(name="weird", gauge=Gauge(data_points=points))
    request = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )
    response = httpx.post(
        f"{collector.otlp_http}/v1/metrics", content=request.SerializeToString(), headers=PROTOBUF, timeout=10
    )
    assert response.status_code == 200
    assert collector.value("modeltel_receiver_accepted_total", signal="metrics") == 4
    # JSON has no NaN literal: a body that uses one is invalid JSON, a 400, and costs nothing else.
    point = b'{"name": "x", "gauge": {"dataPoints": [{"asDouble": NaN}]}}'
    body = b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [' + point + b"]}]}]}"
    response = httpx.post(
        f"{collector.otlp_http}/v1/metrics",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    response = httpx.post(
        f"{collector.otlp_http}/v1/metrics",
        content=body.replace(b"NaN", b'"NaN"'),  # protobuf JSON's spelling of a non-finite double
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    assert collector.value("modeltel_receiver_accepted_total", signal="metrics") == 5
    with grpc.insecure_channel(collector.otlp_grpc) as channel:
        logs_service_pb2_grpc.LogsServiceStub(channel).Export(prediction_batch(2), timeout=10)
    assert collector.value("modeltel_receiver_accepted_total", signal="logs") == 2


def test_processing_latency_is_observed_per_receiver_and_signal(collector: Collector) -> None:
    for _ in range(3):
        httpx.post(
            f"{collector.otlp_http}/v1/logs",
            content=prediction_batch(5).SerializeToString(),
            headers=PROTOBUF,
            timeout=10,
        )
    assert collector.value("modeltel_receiver_processing_seconds_count", signal="logs", transport="http") == 3
    assert collector.value("modeltel_receiver_processing_seconds_sum", signal="logs") > 0
