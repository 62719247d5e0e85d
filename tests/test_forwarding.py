"""Issue-4 acceptance with the real agent: the example server's traces reach an OTLP endpoint
(a second collector standing in for Jaeger v2), its prediction logs reach a Loki endpoint (a
capture server checking Loki 3's OTLP format), and the trace ids agree across the two."""

from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.conftest import agent_env, exported_spans, launch_collector, launch_model_server, wait_until
from tests.exporters.capture import CaptureServer, otlp_logs_problems, otlp_prediction_ids
from tests.test_end_to_end import MODEL, send_predictions


def test_agent_traces_to_otlp_and_prediction_logs_to_loki(tmp_path: Path) -> None:
    jaeger = launch_collector(tmp_path, verbosity="detailed", name="jaeger")
    loki = CaptureServer(validate=otlp_logs_problems("/otlp/v1/logs")).start()

    def forward(config: dict) -> None:
        config["exporters"]["loki"] = {"endpoint": loki.url}
        config["exporters"]["otlp"] = {"endpoint": jaeger.otlp_grpc}
        pipelines = config["service"]["pipelines"]
        pipelines["logs"]["exporters"] = ["loki"]
        pipelines["traces"]["exporters"] = ["otlp"]

    def at_loki() -> set[str]:
        return set().union(set(), *(otlp_prediction_ids(request) for request in loki.requests))

    collector = launch_collector(tmp_path, configure=forward)
    server = launch_model_server(tmp_path, agent_env(collector, **MODEL))
    try:
        ids = set(send_predictions(server.url, 12))
        wait_until(lambda: at_loki() >= ids, timeout=30, what="the 12 prediction logs at Loki")
        wait_until(
            lambda: sum(s["name"] == "POST /predict" for _, s in exported_spans(jaeger.process.log())) >= 12,
            timeout=30, what="the 12 request spans at the OTLP endpoint",
        )  # fmt: skip
    finally:
        server.process.stop()
        collector.process.stop()
        jaeger.process.stop()
        loki.stop()
    assert loki.problems == []
    span_traces = {span["traceId"] for _, span in exported_spans(jaeger.process.log())}
    log_traces = {
        record.trace_id.hex()
        for request in loki.requests
        for resource in ExportLogsServiceRequest.FromString(request.body).resource_logs
        for scope in resource.scope_logs
        for record in scope.log_records
    }
    assert log_traces and log_traces <= span_traces  # every prediction log leads to its trace
