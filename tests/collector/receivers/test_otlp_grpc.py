"""OTLP/gRPC receiver against a running collector, driven by the OpenTelemetry SDK's own exporter."""

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.collector.otlp_batches import prediction_batch
from tests.conftest import Collector

EXPORT_LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def test_sdk_grpc_exporter_delivers_spans(collector: Collector) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "grpc-test"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.otlp_grpc, insecure=True))
    )
    tracer = provider.get_tracer("test")
    for index in range(7):
        with tracer.start_as_current_span(f"span-{index}"):
            pass
    provider.shutdown()
    assert collector.value("modeltel_receiver_accepted_total", signal="traces", transport="grpc") == 7


def test_prediction_logs_over_grpc_are_counted(collector: Collector) -> None:
    with grpc.insecure_channel(collector.otlp_grpc) as channel:
        logs_service_pb2_grpc.LogsServiceStub(channel).Export(
            prediction_batch(12, model="grpc-model"), timeout=10
        )
    assert collector.value("modeltel_prediction_records_total", ml_model_name="grpc-model") == 12


def test_undecodable_message_is_an_error_and_the_receiver_keeps_serving(collector: Collector) -> None:
    with grpc.insecure_channel(collector.otlp_grpc) as channel:
        raw = channel.unary_unary(EXPORT_LOGS, request_serializer=None, response_deserializer=None)
        try:
            raw(b"\x0a\xff\xff\xff\xff\x0f garbage", timeout=10)
            raise AssertionError("a malformed message was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "malformed protobuf ExportLogsServiceRequest" in error.details()
        logs_service_pb2_grpc.LogsServiceStub(channel).Export(prediction_batch(2, model="after"), timeout=10)
    assert collector.value("modeltel_prediction_records_total", ml_model_name="after") == 2
    assert (
        collector.value(
            "modeltel_receiver_rejected_requests_total", transport="grpc", code="INVALID_ARGUMENT"
        )
        == 1
    )


def test_oversized_message_is_refused_with_resource_exhausted(collector: Collector) -> None:
    with grpc.insecure_channel(collector.otlp_grpc) as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        try:
            stub.Export(prediction_batch(2, model="big", features=200_000), timeout=30)
            raise AssertionError("an oversized message was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        stub.Export(prediction_batch(1, model="small"), timeout=10)
    assert collector.value("modeltel_prediction_records_total", ml_model_name="small") == 1
