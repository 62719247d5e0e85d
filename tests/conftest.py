"""Fixtures that start real processes on 127.0.0.1: the collector and the example server."""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
BIN = Path(sys.executable).parent


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_CHOSEN_PORT = 10_000
_ports_given: set[int] = set()
_port_choice = random.Random()


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, chosen below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` comes from the range it also uses for the
    source ports of outgoing connections: between this function returning and the server
    binding it, any client in the suite could take it ("Address already in use"). Below that
    range only an explicit bind can, and each port is given out once per session.
    """
    low = _ephemeral_low()
    for _ in range(200):
        if low <= _LOWEST_CHOSEN_PORT:
            break
        port = _port_choice.randrange(_LOWEST_CHOSEN_PORT, low)
        if port in _ports_given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    with socket.socket() as sock:  # no range to choose from: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.2, what: str = ""
) -> object:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as error:  # the process may not be up yet
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last_error}")


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any modeltel/OTel settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELTEL_", "OTEL_"))}
    env.update(extra)
    return env


@dataclass
class Process:
    popen: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def start_process(args: list[str], log_path: Path, env: dict[str, str], cwd: Path | None = None) -> Process:
    handle = log_path.open("wb")
    popen = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    return Process(popen, log_path)


@dataclass
class Collector:
    process: Process
    grpc_port: int
    http_port: int
    metrics_port: int
    config: dict = field(default_factory=dict)

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def samples(self) -> list:
        """Every sample on /metrics, parsed by prometheus_client's own parser."""
        text = httpx.get(self.metrics_url, timeout=5).text
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels``."""
        return sum(
            sample.value
            for sample in self.samples()
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )


def collector_config(grpc_port: int, http_port: int, metrics_port: int, verbosity: str = "basic") -> dict:
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{grpc_port}", "max_request_bytes": 1024 * 1024},
                    "http": {"endpoint": f"127.0.0.1:{http_port}", "max_request_bytes": 1024 * 1024},
                }
            }
        },
        "processors": {"predictions": {}},
        "exporters": {"prometheus": {}, "debug": {"verbosity": verbosity, "interval_seconds": 1}},
        "service": {
            "telemetry": {"address": f"127.0.0.1:{metrics_port}"},
            "pipelines": {
                "traces": {"receivers": ["otlp"], "exporters": ["debug"]},
                "metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]},
                "logs": {"receivers": ["otlp"], "processors": ["predictions"], "exporters": ["debug"]},
            },
        },
    }


def launch_collector(
    tmp_path: Path,
    verbosity: str = "basic",
    ports: tuple[int, int, int] | None = None,
    configure: Callable[[dict], None] | None = None,
    name: str = "collector",
) -> Collector:
    """A collector on free ports, or on ``ports`` (gRPC, HTTP, metrics) when given.
    ``configure`` may edit the config dict (add exporters, pipelines) before it is written."""
    ports = ports or (free_port(), free_port(), free_port())
    config = collector_config(*ports, verbosity=verbosity)
    if configure is not None:
        configure(config)
    config_path = tmp_path / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    process = start_process(
        [str(BIN / "modeltel"), "collector", "--config", str(config_path)],
        tmp_path / f"{name}.log",
        clean_env(),
    )
    collector = Collector(process, *ports, config=config)
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{ports[2]}/readyz", timeout=1).status_code == 200,
            what="collector /readyz",
        )
    except AssertionError:
        process.stop()
        raise AssertionError(f"collector did not become ready:\n{process.log()}") from None
    return collector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    running = launch_collector(tmp_path)
    yield running
    running.process.stop()


@pytest.fixture
def detailed_collector(tmp_path: Path) -> Iterator[Collector]:
    """A collector whose debug exporter logs every batch as OTLP/JSON, for content checks."""
    running = launch_collector(tmp_path, verbosity="detailed")
    yield running
    running.process.stop()


@dataclass
class ModelServer:
    process: Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def agent_env(collector: Collector, **overrides: str) -> dict[str, str]:
    settings = {
        "MODELTEL_ENABLED": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_http,
        "OTEL_SERVICE_NAME": "iris-test",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
    }
    return clean_env(**{**settings, **overrides})


def launch_model_server(
    tmp_path: Path, env: dict[str, str], workers: int = 1, name: str = "server"
) -> ModelServer:
    port = free_port()
    args = [str(BIN / "uvicorn"), "iris_server:app", "--app-dir", str(EXAMPLES), "--host", "127.0.0.1"]
    args += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    return launch_server(tmp_path, args, env, port, name)


def launch_server(
    tmp_path: Path, args: list[str], env: dict[str, str], port: int, name: str = "server"
) -> ModelServer:
    """Start a model server process and wait for its ``/healthz``."""
    process = start_process(args, tmp_path / f"{name}.log", env)
    server = ModelServer(process, port)
    try:
        wait_until(
            lambda: httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200,
            timeout=60,
            what="server",
        )
    except AssertionError:
        process.stop()
        raise AssertionError(f"model server did not start:\n{process.log()}") from None
    return server


def debug_batches(log: str, signal: str) -> list[dict]:
    """The OTLP/JSON batches a ``detailed`` debug exporter logged for ``signal``."""
    return [json.loads(m.group(1)) for m in re.finditer(rf"{signal} batch: (\{{.*\}})$", log, re.MULTILINE)]


def attribute_map(attributes: list[dict]) -> dict[str, object]:
    """OTLP/JSON key-values as a plain mapping."""
    return {item["key"]: next(iter(item["value"].values()), None) for item in attributes}


def exported_log_records(log: str) -> list[tuple[dict, dict]]:
    """(resource attributes, record) for every log record in a detailed collector's output."""
    return [
        (attribute_map(resource["resource"].get("attributes", [])), record)
        for batch in debug_batches(log, "logs")
        for resource in batch["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
    ]


def exported_spans(log: str) -> list[tuple[dict, dict]]:
    return [
        (attribute_map(resource["resource"].get("attributes", [])), span)
        for batch in debug_batches(log, "traces")
        for resource in batch["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


@dataclass
class Prometheus:
    process: Process
    url: str

    def query(self, promql: str) -> list[dict]:
        """Instant query; a PromQL error fails loudly with Prometheus's message."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        assert response.status_code == 200, f"{promql}: {response.text}"
        return response.json()["data"]["result"]

    def label_values(self, label: str, match: str) -> list[str]:
        response = httpx.get(f"{self.url}/api/v1/label/{label}/values", params={"match[]": match}, timeout=10)
        response.raise_for_status()
        return response.json()["data"]


def launch_prometheus(
    tmp_path: Path,
    scrape_port: int,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    job_settings: dict | None = None,
) -> Prometheus:
    """The Debian ``prometheus`` binary scraping 127.0.0.1:``scrape_port`` every second.
    ``job_settings`` adds scrape-job keys (e.g. ``honor_labels`` from deploy/prometheus.yml)."""
    binary = require_binary("prometheus")
    port = port or free_port()
    job = {**(job_settings or {}), "job_name": "modeltel-collector"}
    job["static_configs"] = [{"targets": [f"127.0.0.1:{scrape_port}"]}]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [job],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    args = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        *extra_args,
    ]
    prometheus = Prometheus(
        start_process(args, tmp_path / "prometheus.log", {"PATH": "/usr/bin:/bin"}),
        f"http://127.0.0.1:{port}",
    )

    def scraping() -> bool:
        up = prometheus.query('up{job="modeltel-collector"}')
        return bool(up) and up[0]["value"][1] == "1"

    try:
        wait_until(scraping, timeout=60, what="Prometheus scraping the collector")
    except AssertionError:
        prometheus.process.stop()
        raise AssertionError(
            f"Prometheus did not scrape the collector:\n{prometheus.process.log()}"
        ) from None
    return prometheus


@pytest.fixture
def prometheus(collector: Collector, tmp_path: Path) -> Iterator[Prometheus]:
    running = launch_prometheus(tmp_path, collector.metrics_port)
    yield running
    running.process.stop()


def require_binary(name: str) -> str:
    """The path of a Debian-packaged tool; ``make test`` installs them, so CI fails rather than skips."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("MODELTEL_REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail(f"{name} is not installed; make test installs it with apt-get")
        pytest.skip(f"{name} is not installed (make test installs it)")
    return path
