"""``${env:VAR}`` expansion in collector configs, as the OpenTelemetry Collector does it."""

import re
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from modeltel.collector.config import ConfigError, build_config, expand_env, load_config
from modeltel.collector.factories import builtin_factories
from tests.conftest import BIN, REPO, clean_env, launch_collector

CONFIG = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${env:OTLP_HOST:-127.0.0.1}:${env:OTLP_PORT}
        max_request_bytes: ${env:MAX_BYTES}
exporters:
  loki:
    endpoint: ${env:LOKI_URL}
    tenant_id: team-$${literal}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [loki]}
"""


def test_references_expand_with_types_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(CONFIG)
    environ = {"OTLP_PORT": "14318", "MAX_BYTES": "1024", "LOKI_URL": "http://loki:3100"}
    config = load_config(path, builtin_factories(), environ)
    http = config.receivers["otlp"].config.protocols.http
    assert http.endpoint == "127.0.0.1:14318"
    assert http.max_request_bytes == 1024  # a whole-value reference takes the YAML type
    loki = config.exporters["loki"].config
    assert loki.endpoint == "http://loki:3100"
    assert loki.tenant_id == "team-${literal}"


def test_unset_variable_names_the_key_path() -> None:
    with pytest.raises(
        ConfigError, match=r"exporters\.loki\.endpoint: environment variable LOKI_URL is not set"
    ):
        expand_env({"exporters": {"loki": {"endpoint": "${env:LOKI_URL}"}}}, {})
    with pytest.raises(ConfigError, match=r"a\[1\]: unsupported reference '\$\{file:x\}'"):
        expand_env({"a": ["ok", "${file:x}"]}, {})


def test_cli_validate_reads_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(CONFIG)
    command = [str(BIN / "modeltel"), "collector", "--config", str(path), "--validate"]
    env = clean_env(OTLP_PORT="14318", MAX_BYTES="1024", LOKI_URL="http://loki:3100")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "valid (logs)" in result.stdout
    del env["LOKI_URL"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "exporters.loki.endpoint: environment variable LOKI_URL is not set" in result.stderr


def test_json_log_encoding(tmp_path: Path) -> None:
    def json_logs(config: dict) -> None:
        config["service"]["telemetry"]["logs"] = {"encoding": "json"}

    collector = launch_collector(tmp_path, configure=json_logs)
    collector.process.stop()
    lines = [orjson.loads(line) for line in collector.process.log().splitlines() if line.strip()]
    assert any(line["msg"].startswith("collector ready") and line["level"] == "info" for line in lines)
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)


def test_the_documented_example_config_is_valid() -> None:
    document = (REPO / "docs" / "collector.md").read_text()
    example = re.search(r"## Example.*?```yaml\n(.*?)```", document, re.S)
    assert example is not None
    config = build_config(expand_env(yaml.safe_load(example.group(1)), {}), builtin_factories())
    assert config.exporters["loki"].config.sending_queue.storage.directory == Path("/var/lib/modeltel")
    assert config.exporters["otlp/jaeger"].config.endpoint == "127.0.0.1:4317"


@pytest.mark.parametrize(
    ("exporter", "message"),
    [
        ({"sending_queue": {"sizer": "pages"}}, "exporters.loki.sending_queue.sizer: Input should be"),
        ({"retry_on_failure": {"initial_interval": 0}}, "exporters.loki.retry_on_failure.initial_interval"),
        ({"protocol": "syslog"}, "exporters.loki.protocol"),
        (
            {"sending_queue": {"storage": {}}},
            "exporters.loki.sending_queue.storage.directory: Field required",
        ),
        ({"endpiont": "http://x"}, "exporters.loki.endpiont: Extra inputs are not permitted"),
    ],
)
def test_exporter_config_errors_name_the_key(exporter: dict, message: str) -> None:
    document = {
        "receivers": {"otlp": {}},
        "exporters": {"loki": exporter},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["loki"]}}},
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(document, builtin_factories())
