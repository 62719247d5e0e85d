import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from modeltel.collector.config import DEFAULT_CONFIG_YAML, ConfigError, build_config, load_config
from modeltel.collector.factories import builtin_factories
from tests.conftest import BIN

FACTORIES = builtin_factories()


def default_document() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_YAML)


def test_defaults_need_no_file() -> None:
    config = load_config(None, FACTORIES)
    assert set(config.pipelines) == {"traces", "metrics", "logs"}
    assert config.telemetry.address == "127.0.0.1:9464"
    otlp = config.receivers["otlp"].config
    assert otlp.protocols.grpc.endpoint == "127.0.0.1:4317"
    assert otlp.protocols.http.endpoint == "127.0.0.1:4318"


def test_named_components_and_pipelines() -> None:
    document = default_document()
    document["exporters"]["debug/verbose"] = {"verbosity": "detailed"}
    document["service"]["pipelines"]["logs/raw"] = {"receivers": ["otlp"], "exporters": ["debug/verbose"]}
    config = build_config(document, FACTORIES)
    assert config.exporters["debug/verbose"].config.verbosity == "detailed"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["exporters"].update({"kafka": {}}), "exporters.kafka: unknown exporter type 'kafka'"),
        (
            lambda d: d["exporters"]["debug"].update({"verbosty": "basic"}),
            "exporters.debug.verbosty: Extra inputs",
        ),
        (lambda d: d["exporters"].update({"debug": {"verbosity": "loud"}}), "exporters.debug.verbosity"),
        (
            lambda d: d["receivers"]["otlp"]["protocols"]["grpc"].update({"endpoint": "4317"}),
            "receivers.otlp.protocols.grpc.endpoint",
        ),
        (
            lambda d: d["service"]["pipelines"]["logs"]["exporters"].append("loki"),
            "service.pipelines.logs.exporters: 'loki' is not configured",
        ),
        (
            lambda d: d["service"]["pipelines"]["traces"].update({"exporters": ["prometheus"]}),
            "'prometheus' does not support traces",
        ),
        (
            lambda d: d["service"]["pipelines"].update(
                {"profiles": {"receivers": ["otlp"], "exporters": ["debug"]}}
            ),
            "service.pipelines.profiles",
        ),
        (
            lambda d: d["service"]["pipelines"]["logs"].update({"exporters": []}),
            "service.pipelines.logs.exporters",
        ),
        (lambda d: d.update({"extensions": {}}), "extensions: Extra inputs"),
        (lambda d: d["service"]["telemetry"].update({"address": "nowhere"}), "service.telemetry.address"),
    ],
)
def test_errors_name_the_bad_key(mutate, message: str) -> None:
    document = default_document()
    mutate(document)
    with pytest.raises(ConfigError) as raised:
        build_config(document, FACTORIES)
    assert message in str(raised.value)


def test_collector_stops_cleanly_on_sigterm(collector) -> None:
    assert collector.process.stop() == 0
    assert "shutting down" in collector.process.log()


def test_busy_port_is_a_clear_error(collector) -> None:
    config = collector.process.log_path.parent / "collector.yaml"
    completed = subprocess.run(
        [str(BIN / "modeltel"), "collector", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "collector could not start" in completed.stderr and "Traceback" not in completed.stderr
    assert f"127.0.0.1:{collector.metrics_port}" in completed.stderr
    assert httpx.get(f"http://127.0.0.1:{collector.metrics_port}/healthz").status_code == 200


def test_cli_version() -> None:
    import modeltel

    completed = subprocess.run([str(BIN / "modeltel"), "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.strip() == f"modeltel {modeltel.__version__}"


def test_cli_validate_reports_and_exits_nonzero(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(DEFAULT_CONFIG_YAML)
    document = default_document()
    document["processors"]["predictions"] = {"max_models": 0}
    bad.write_text(yaml.safe_dump(document))
    ok = subprocess.run(
        [str(BIN / "modeltel"), "collector", "--validate", "-c", str(good)], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "valid" in ok.stdout
    failed = subprocess.run(
        [str(BIN / "modeltel"), "collector", "--validate", "-c", str(bad)], capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert "processors.predictions.max_models" in failed.stderr
    not_yaml = tmp_path / "x.yaml"
    not_yaml.write_text("receivers: [")
    command = [sys.executable, "-m", "modeltel", "collector", "--validate", "-c", str(not_yaml)]
    failed = subprocess.run(command, capture_output=True, text=True)
    assert failed.returncode == 2 and "not valid YAML" in failed.stderr
