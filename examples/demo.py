"""The embedded demo: collector + example model server with the agent + traffic, live counts.

Started by ``make demo``. Uses the real default ports, so while it runs
``curl 127.0.0.1:9464/metrics`` shows what the collector exports. Runs for
``DEMO_SECONDS`` (default 60; 0 runs until Ctrl-C). Logs go to ``.demo/``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.live import Live
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOGS = ROOT / ".demo"
METRICS = "http://127.0.0.1:9464/metrics"
SERVER = "http://127.0.0.1:8000"


def start(name: str, args: list[str], **env: str) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODELTEL_", "OTEL_"))}
    log = (LOGS / f"{name}.log").open("wb")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**base, **env}, cwd=ROOT)


def wait_for(url: str, process: subprocess.Popen, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited early; see {LOGS / (name + '.log')}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"{name} did not come up at {url}; see {LOGS / (name + '.log')}")


def snapshot() -> dict[str, dict[tuple[str, ...], float]]:
    wanted = {
        "modeltel_prediction_records_total": ("ml_model_name", "ml_model_version"),
        "modeltel_receiver_accepted_total": ("signal",),
        "http_server_request_duration_seconds_count": ("http_route",),
    }
    values: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in wanted}
    text = httpx.get(METRICS, timeout=2).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                key = tuple(sample.labels.get(label, "") for label in wanted[sample.name])
                values[sample.name][key] = values[sample.name].get(key, 0.0) + sample.value
    return values


def render(values: dict, elapsed: float, previous: dict, interval: float) -> Table:
    table = Table(title=f"modeltel collector after {elapsed:.0f}s   (curl {METRICS})")
    table.add_column("what")
    table.add_column("labels")
    table.add_column("total", justify="right")
    table.add_column("per second", justify="right")
    for name, series in values.items():
        for key, value in sorted(series.items()):
            rate = (value - previous.get(name, {}).get(key, 0.0)) / interval if previous else 0.0
            table.add_row(name, ", ".join(key), f"{value:.0f}", f"{rate:.1f}")
    return table


def main() -> None:
    seconds = float(os.environ.get("DEMO_SECONDS", "60"))
    LOGS.mkdir(exist_ok=True)
    console = Console()
    processes: list[subprocess.Popen] = []
    try:
        collector = start("collector", [str(BIN / "modeltel"), "collector"])
        processes.append(collector)
        wait_for("http://127.0.0.1:9464/readyz", collector, "collector")
        server = start(
            "server",
            [
                str(BIN / "uvicorn"),
                "iris_server:app",
                "--app-dir",
                "examples",
                "--port",
                "8000",
                "--workers",
                "2",
            ],
            MODELTEL_ENABLED="1",
            MODELTEL_MODEL_NAME="iris-classifier",
            MODELTEL_MODEL_VERSION="1",
            OTEL_SERVICE_NAME="iris-example",
            OTEL_METRIC_EXPORT_INTERVAL="2000",
        )
        processes.append(server)
        wait_for(f"{SERVER}/healthz", server, "server")
        processes.append(
            start("traffic", [str(BIN / "python"), "examples/traffic.py", "--url", SERVER, "--rate", "25"])
        )
        console.print(
            f"collector, example server (2 workers, MODELTEL_ENABLED=1) and traffic running; logs in {LOGS}"
        )

        started = time.monotonic()
        interval = 2.0
        previous: dict = {}
        with Live(console=console, auto_refresh=False) as live:
            while seconds <= 0 or time.monotonic() - started < seconds:
                time.sleep(interval)
                values = snapshot()
                live.update(render(values, time.monotonic() - started, previous, interval), refresh=True)
                previous = values
        if not any(previous.get("modeltel_prediction_records_total", {}).values()):
            sys.exit(f"no prediction records arrived; see the logs in {LOGS}")
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
