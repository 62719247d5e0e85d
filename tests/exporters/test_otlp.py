"""``otlp`` (gRPC) and ``otlphttp`` exporters: a collector forwarding to a second real collector
(as to Jaeger v2 or an upstream OTel Collector) and to a capture server checking OTLP/HTTP."""

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import launch_collector, wait_until
from tests.exporters.capture import Captured, CaptureServer, otlp_log_records, otlp_logs_problems


def send_spans(endpoint: str, count: int) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "forwarding-test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("test")
    for index in range(count):
        with tracer.start_as_current_span(f"predict-{index}"):
            pass
    provider.shutdown()


def test_traces_and_logs_forwarded_over_grpc_to_another_collector(tmp_path) -> None:
    upstream = launch_collector(tmp_path, name="upstream")

    def forward(config: dict) -> None:
        config["exporters"]["otlp/upstream"] = {
            "endpoint": upstream.otlp_grpc,
            "compression": "gzip",
            "headers": {"Authorization": "Bearer test"},
        }
        for signal in ("traces", "logs"):
            config["service"]["pipelines"][signal]["exporters"] = ["otlp/upstream"]

    sidecar = launch_collector(tmp_path, configure=forward, name="sidecar")
    try:
        send_spans(sidecar.otlp_http, 5)
        # The SDK's own log exporters, gRPC and HTTP, into the sidecar.
        for exporter in (
            GrpcLogExporter(endpoint=sidecar.otlp_grpc, insecure=True),
            HttpLogExporter(endpoint=f"{sidecar.otlp_http}/v1/logs"),
        ):
            provider = LoggerProvider(resource=Resource.create({"service.name": "forwarding-test"}))
            provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
            logger = provider.get_logger("test")
            for _ in range(3):
                logger.emit(body="hello", attributes={"ml.model.name": "m"})
            provider.shutdown()
        wait_until(
            lambda: (
                upstream.value("modeltel_receiver_accepted_total", signal="traces", transport="grpc") == 5
            ),
            what="spans at the upstream collector",
        )
        wait_until(lambda: upstream.value("modeltel_receiver_accepted_total", signal="logs") == 6)
        assert sidecar.value("modeltel_exporter_sent_total", exporter="otlp/upstream", signal="traces") == 5
        assert sidecar.value("modeltel_exporter_sent_total", exporter="otlp/upstream", signal="logs") == 6
    finally:
        sidecar.process.stop()
        upstream.process.stop()


def traces_problems(request: Captured) -> list[str]:
    if request.path != "/v1/traces" or request.headers.get("Content-Type") != "application/x-protobuf":
        return [f"{request.path} {request.headers.get('Content-Type')}"]
    ExportTraceServiceRequest.FromString(request.body)
    return []


def test_otlphttp_sends_each_signal_to_its_path(tmp_path) -> None:
    traces = CaptureServer(traces_problems).start()
    logs = CaptureServer(otlp_logs_problems("/custom/logs")).start()

    def forward(config: dict) -> None:
        config["exporters"]["otlphttp"] = {
            "endpoint": traces.url,
            "logs_endpoint": f"{logs.url}/custom/logs",
            "retry_on_failure": {"initial_interval": 0.05},
        }
        for signal in ("traces", "logs"):
            config["service"]["pipelines"][signal]["exporters"] = ["otlphttp"]

    collector = launch_collector(tmp_path, configure=forward)
    try:
        traces.script.append((503, {"Retry-After": "0"}))
        send_spans(collector.otlp_http, 4)
        wait_until(lambda: collector.value("modeltel_exporter_sent_total", signal="traces") == 4)
        spans = sum(
            len(s.spans)
            for r in traces.requests
            for rs in ExportTraceServiceRequest.FromString(r.body).resource_spans
            for s in rs.scope_spans
        )
        assert spans == 4 and traces.problems == []
        assert collector.value("modeltel_exporter_failed_total", signal="traces") >= 1
        provider = LoggerProvider()
        provider.add_log_record_processor(
            SimpleLogRecordProcessor(HttpLogExporter(endpoint=f"{collector.otlp_http}/v1/logs"))
        )
        provider.get_logger("t").emit(body="x")
        provider.shutdown()
        logs.wait_for_records(1, otlp_log_records)
        assert logs.problems == []
    finally:
        collector.process.stop()
        traces.stop()
        logs.stop()
