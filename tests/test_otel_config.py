"""The OpenTelemetry Collector contrib configs in otel-config/, checked structurally: the
contrib collector cannot run here. Each file must be YAML, name the collector version it needs,
define every component its pipelines use, use only component types that version has, and route
prediction logs by model the way the modeltel collectors need."""

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

CONFIGS = sorted((REPO / "otel-config").glob("*.yaml"))
VERSION = "0.154.0"
# Component types of otelcol-contrib 0.154.0 that these configs use, each with where its
# documentation says so (component READMEs in opentelemetry-collector / -contrib at that tag):
CONTRIB_COMPONENTS = {
    "receivers": {
        "otlp",  # collector core receiver/otlpreceiver (one type for gRPC and HTTP)
        "kafka",  # contrib receiver/kafkareceiver: per-signal `logs`/`traces`/`metrics` topics
    },
    "processors": {
        "memory_limiter",  # core processor/memorylimiterprocessor
        "batch",  # core processor/batchprocessor
        "tail_sampling",  # contrib processor/tailsamplingprocessor: status_code, latency, probabilistic
    },
    "exporters": {
        # contrib exporter/loadbalancingexporter: named `load_balancing` from 0.153.0 (alias
        # `loadbalancing`); `routing_key: attributes` for logs from 0.154.0 (PR #46241).
        "load_balancing",
        "otlp_grpc",  # core exporter/otlpexporter, renamed from `otlp` in 0.144.0
        "otlp_http",  # core exporter/otlphttpexporter, renamed from `otlphttp` in 0.144.0
        "prometheus",  # contrib exporter/prometheusexporter
        "kafka",  # contrib exporter/kafkaexporter: per-signal topics, partition_traces_by_id
        "debug",  # core exporter/debugexporter
    },
    "extensions": {"health_check"},  # contrib extension/healthcheckextension
}
SIGNALS = ("traces", "metrics", "logs")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def test_there_are_a_gateway_and_a_kafka_variant() -> None:
    assert {path.name for path in CONFIGS} == {"gateway.yaml", "kafka-producer.yaml", "kafka-consumer.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_config_names_its_collector_version(path: Path) -> None:
    header = path.read_text().split("\nextensions:")[0]
    assert re.search(rf"Needs: otelcol-contrib {re.escape(VERSION)} or later", header)
    assert f"otel/opentelemetry-collector-contrib:{VERSION}" in header


def test_compose_runs_the_version_the_gateway_needs() -> None:
    compose = load(REPO / "docker-compose.yml")
    assert compose["services"]["otel-gateway"]["image"] == f"otel/opentelemetry-collector-contrib:{VERSION}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_pipeline_component_is_defined_and_exists_in_that_version(path: Path) -> None:
    config = load(path)
    service = config["service"]
    for kind, known in CONTRIB_COMPONENTS.items():
        for component_id in config.get(kind) or {}:
            assert component_type(component_id) in known, f"{path.name}: {kind} {component_id}"
    for extension in service.get("extensions", []):
        assert extension in config["extensions"], extension
    assert service["pipelines"]
    for name, pipeline in service["pipelines"].items():
        assert component_type(name) in SIGNALS, name
        assert pipeline["receivers"] and pipeline["exporters"], name
        for kind in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(kind, []):
                assert component_id in (config.get(kind) or {}), f"{path.name} {name}: {component_id}"
        processors = pipeline.get("processors", [])
        assert processors[:1] == ["memory_limiter"], f"{path.name} {name}: memory_limiter first"
        assert "batch" in processors, f"{path.name} {name}: no batch"
    defined = {kind: set(config.get(kind) or {}) for kind in ("receivers", "processors", "exporters")}
    used = {
        kind: {c for pipeline in service["pipelines"].values() for c in pipeline.get(kind, [])}
        for kind in defined
    }
    assert used == defined, f"{path.name}: components defined but unused"


@pytest.mark.parametrize("name", ["gateway.yaml", "kafka-consumer.yaml"])
def test_prediction_logs_are_load_balanced_by_model_and_traces_tail_sampled(name: str) -> None:
    config = load(REPO / "otel-config" / name)
    pipelines = config["service"]["pipelines"]
    balancer = config["exporters"]["load_balancing"]
    # Every record of one model (its predictions and their labels) goes to one modeltel
    # collector, which keeps that model's drift windows and label joins.
    assert balancer["routing_key"] == "attributes"
    assert balancer["routing_attributes"] == ["ml.model.name"]
    assert "endpoint" not in balancer["protocol"]["otlp"]  # set per backend by the exporter
    assert pipelines["logs"]["exporters"] == ["load_balancing"]
    assert "tail_sampling" in pipelines["traces"]["processors"]
    policies = {p["type"]: p for p in config["processors"]["tail_sampling"]["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["latency"]["latency"]["threshold_ms"] > 0
    assert pipelines["traces"]["exporters"] == ["otlp_grpc/jaeger"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]


def test_kafka_halves_agree_on_topics_and_encoding() -> None:
    producer = load(REPO / "otel-config" / "kafka-producer.yaml")["exporters"]["kafka"]
    consumer = load(REPO / "otel-config" / "kafka-consumer.yaml")["receivers"]["kafka"]
    for signal in SIGNALS:
        assert producer[signal] == consumer[signal], signal
        assert producer[signal]["encoding"] == "otlp_proto"
    assert producer["brokers"] == consumer["brokers"]
    assert producer["partition_traces_by_id"] is True  # whole traces reach one consumer
