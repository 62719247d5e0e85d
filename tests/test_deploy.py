"""The docker-compose stack's files, checked with the tools that will read them."""

import subprocess
from pathlib import Path

import yaml

from tests.conftest import BIN, REPO, require_binary


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=REPO)


def test_compose_collector_config_is_valid() -> None:
    completed = run(str(BIN / "modeltel"), "collector", "--validate", "-c", "deploy/collector.yaml")
    assert completed.returncode == 0, completed.stderr


def test_compose_prometheus_config_is_valid() -> None:
    completed = run(require_binary("promtool"), "check", "config", "deploy/prometheus.yml")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_compose_file_is_valid_and_enables_the_agent_by_env_var() -> None:
    completed = run(require_binary("docker-compose"), "-f", "docker-compose.yml", "config")
    assert completed.returncode == 0, completed.stderr
    resolved = yaml.safe_load(completed.stdout)
    services = resolved["services"]
    assert {"collector", "model-server", "traffic", "prometheus", "grafana"} <= set(services)
    assert services["model-server"]["environment"]["MODELTEL_ENABLED"] == "1"
    assert services["model-server"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    for name, service in services.items():
        image = service.get("image", "")
        pinned = ":" in image and not image.endswith(":latest")
        assert "build" in service or pinned, f"{name}: pin the image tag"
        assert "healthcheck" in service or name == "traffic", f"{name} has no health check"
    for volume in (
        services["collector"]["volumes"] + services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    ):
        source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
        if source.startswith(("/", ".")):  # a bind mount of one of our files, not a named volume
            assert Path(REPO, source).exists(), source
