"""The docker-compose stack's files, checked with the tools that will read them: docker-compose
(default and `--profile scale`), `modeltel collector --validate` for every collector config in
it, promtool for Prometheus. Loki, Jaeger and Grafana cannot run here: their files are checked
against the settings the rest of the stack relies on."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, REPO, require_binary

DEFAULT_SERVICES = {
    "collector", "model-server", "traffic", "prometheus", "alertmanager", "loki", "jaeger", "grafana",
    "retrain-webhook",
}  # fmt: skip
SCALE_SERVICES = {
    "otel-gateway", "collector-replica-1", "collector-replica-2",
    "scaled-server-a", "scaled-server-b", "scaled-traffic-a", "scaled-traffic-b",
}  # fmt: skip
# One-shot or load-generating services, and the contrib gateway: its image is built FROM
# scratch, with no shell or HTTP client to run a health check command in.
WITHOUT_HEALTH_CHECK = {"traffic", "scaled-traffic-a", "scaled-traffic-b", "otel-gateway"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=REPO)


def resolved_compose(*profile: str) -> dict:
    completed = run(require_binary("docker-compose"), "-f", "docker-compose.yml", *profile, "config")
    assert completed.returncode == 0, completed.stderr
    return yaml.safe_load(completed.stdout)


@pytest.fixture(scope="module")
def compose() -> dict:
    return resolved_compose()


@dataclass(frozen=True)
class Mount:
    source: str  # a path in the repository for a bind mount, else the named volume
    target: str
    read_only: bool
    bind: bool


def mounts(service: dict) -> list[Mount]:
    """docker-compose v1's resolved short syntax, ``source:target[:mode]``."""
    found = []
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        bind = source.startswith("/")
        found.append(
            Mount(str(Path(source).relative_to(REPO)) if bind else source, target, mode == ["ro"], bind)
        )
    return found


def collector_configs(compose: dict) -> set[str]:
    """The repository files mounted as a modeltel collector's --config."""
    found = set()
    for service in compose["services"].values():
        command = service.get("command") or []
        if command[:2] == ["modeltel", "collector"]:
            target = command[command.index("--config") + 1]
            [mount] = [m for m in mounts(service) if m.target == target]
            found.add(mount.source)
    return found


def test_every_collector_config_in_compose_is_valid(compose: dict) -> None:
    configs = collector_configs(compose)
    assert configs == {"deploy/collector.yaml"}
    for config in configs:
        completed = run(str(BIN / "modeltel"), "collector", "--validate", "-c", config)
        assert completed.returncode == 0, completed.stderr


def test_compose_prometheus_config_is_valid() -> None:
    completed = run(require_binary("promtool"), "check", "config", "deploy/prometheus.yml")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_compose_file_is_valid_and_enables_the_agent_by_env_var(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == DEFAULT_SERVICES | SCALE_SERVICES
    server = services["model-server"]["environment"]
    assert server["MODELTEL_ENABLED"] == "1"
    assert server["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    traffic = services["traffic"]["command"]
    assert traffic[traffic.index("--drift-after") + 1] == "300"  # TRAFFIC_DRIFT_AFTER's default
    for name, service in services.items():
        image = service.get("image", "")
        pinned = ":" in image and not image.endswith(":latest")
        assert "build" in service or pinned, f"{name}: pin the image tag"
        assert "healthcheck" in service or name in WITHOUT_HEALTH_CHECK, f"{name} has no health check"
        for mount in mounts(service):
            if not mount.bind:
                continue
            assert mount.read_only, f"{name}: {mount.source} is mounted writable"
            assert Path(REPO, mount.source).exists(), f"{name}: {mount.source}"
    for name in ("prometheus", "loki", "grafana", "alertmanager", "collector"):
        assert any(not m.bind for m in mounts(services[name])), f"{name} keeps no data"
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]


def test_scale_profile_adds_the_gateway_and_collector_replicas() -> None:
    default, scaled = resolved_compose(), resolved_compose("--profile", "scale")
    for name in SCALE_SERVICES:
        assert scaled["services"][name]["profiles"] == ["scale"], name
    for name in DEFAULT_SERVICES:
        assert "profiles" not in default["services"][name], name
    services = scaled["services"]
    gateway = yaml.safe_load((REPO / "otel-config" / "gateway.yaml").read_text())
    backends = gateway["exporters"]["load_balancing"]["resolver"]["static"]["hostnames"]
    replicas = sorted(name for name in services if name.startswith("collector-replica-"))
    assert sorted(backends) == [f"{name}:4317" for name in replicas] and len(replicas) >= 2
    for name in replicas:  # each replica runs the compose collector config
        assert services[name]["command"] == services["collector"]["command"]
    for name in ("scaled-server-a", "scaled-server-b"):
        assert services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-gateway:4318"
    # Prometheus scrapes every replica and the gateway's prometheus exporter.
    jobs = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())["scrape_configs"]
    scraped = {
        f"{name}:{sd['port']}" for job in jobs for sd in job.get("dns_sd_configs", []) for name in sd["names"]
    }
    gateway_port = gateway["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    assert {f"{name}:9464" for name in replicas} | {f"otel-gateway:{gateway_port}"} <= scraped
    image = services["otel-gateway"]["image"]
    assert image.rsplit(":", 1)[1] in (REPO / "otel-config" / "gateway.yaml").read_text()


def test_collector_exports_where_the_stack_listens(compose: dict) -> None:
    """deploy/collector.yaml sends traces to Jaeger's OTLP gRPC port, logs to Loki over OTLP and
    keeps its queue, drift state and label join store on the collector's data volume."""
    config = yaml.safe_load((REPO / "deploy" / "collector.yaml").read_text())
    jaeger = yaml.safe_load((REPO / "deploy" / "jaeger.yaml").read_text())
    assert config["exporters"]["otlp/jaeger"]["endpoint"].endswith("jaeger:4317}")
    assert jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert config["exporters"]["loki"]["protocol"] == "otlp"
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger"]
    assert pipelines["logs"] == {
        "receivers": ["otlp"],
        "processors": ["predictions", "drift", "performance"],
        "exporters": ["loki"],
    }
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    collector = mounts(compose["services"]["collector"])
    [data] = [m.target for m in collector if not m.bind]
    assert config["exporters"]["loki"]["sending_queue"]["storage"]["directory"].startswith(data)
    assert config["processors"]["drift"]["state_dir"].startswith(data)
    assert config["processors"]["performance"]["state_dir"].startswith(data)  # the join store
    [profiles] = [m for m in collector if m.source == "deploy/profiles"]
    assert config["processors"]["drift"]["profiles_dir"] == profiles.target


def test_loki_config_accepts_otlp_prediction_logs() -> None:
    """Structured metadata (trace_id, ml_model_name, ...) needs schema v13 and allowing it."""
    loki = yaml.safe_load((REPO / "deploy" / "loki.yaml").read_text())
    [schema] = loki["schema_config"]["configs"]
    assert (schema["schema"], schema["store"]) == ("v13", "tsdb")
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert loki["server"]["http_listen_port"] == 3100
