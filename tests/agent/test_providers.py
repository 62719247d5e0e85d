import os

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

from modeltel.agent.providers import (
    build_exporter,
    build_resource,
    exporter_names,
    otlp_default_endpoint,
    otlp_protocol,
    process_resource,
)


def test_exporter_names_default_to_otlp_and_honour_none() -> None:
    assert exporter_names("traces", {}) == ["otlp"]
    assert exporter_names("logs", {"OTEL_LOGS_EXPORTER": "none"}) == []
    assert exporter_names("metrics", {"OTEL_METRICS_EXPORTER": "otlp, console"}) == ["otlp", "console"]


def test_protocol_defaults_to_http_protobuf_and_signal_variable_wins() -> None:
    assert otlp_protocol("traces", {}) == "http/protobuf"
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf"}
    assert otlp_protocol("traces", env) == "grpc"
    assert otlp_protocol("logs", env) == "http/protobuf"
    assert otlp_protocol("logs", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}) == "http/protobuf"


def test_default_endpoint_is_the_local_sidecar_unless_configured() -> None:
    assert otlp_default_endpoint("logs", "http/protobuf", {}) == "http://127.0.0.1:4318/v1/logs"
    assert otlp_default_endpoint("traces", "grpc", {}) == "http://127.0.0.1:4317"
    assert (
        otlp_default_endpoint("logs", "http/protobuf", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}) is None
    )
    assert otlp_default_endpoint("logs", "grpc", {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://x:1"}) is None


def test_build_exporter_picks_the_transport_and_rejects_unknown_names() -> None:
    assert isinstance(build_exporter("logs", "otlp", {}), HttpLogExporter)
    exporter = build_exporter("traces", "otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert isinstance(exporter, GrpcSpanExporter)
    exporter.shutdown()
    with pytest.raises(ValueError, match="no traces exporter named 'nope'"):
        build_exporter("traces", "nope", {})


def test_resource_has_a_per_process_instance_id_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    first, second = build_resource(), build_resource()
    assert first.attributes["service.instance.id"] != second.attributes["service.instance.id"]
    assert first.attributes["process.pid"] == os.getpid()
    assert first.attributes["telemetry.distro.name"] == "modeltel"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-7")
    assert build_resource().attributes["service.instance.id"] == "pod-7"


def test_service_name_variable_keeps_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-name")
    assert build_resource().attributes["service.name"] == "from-name"


def test_one_resource_per_process_and_a_new_one_after_fork() -> None:
    first = process_resource().attributes["service.instance.id"]
    assert process_resource().attributes["service.instance.id"] == first
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its own id and leaves without running pytest's exit handlers
        os.write(write, str(process_resource().attributes["service.instance.id"]).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    assert os.read(read, 64).decode() not in ("", first)
