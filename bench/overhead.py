"""Serving overhead of the agent: wrk against the example server, variants interleaved in one run.

Variants, each a fresh single-worker uvicorn process serving ``examples/iris_server.py``:

- ``uninstrumented``: the server as written, modeltel installed but not enabled;
- ``otel-instrument``: ``opentelemetry-instrument`` (opentelemetry-distro) exporting OTLP
  traces, metrics and logs to a running modeltel collector;
- ``modeltel-100%`` / ``modeltel-10%``: ``MODELTEL_ENABLED=1`` with traces, metrics and feature
  logs to the same collector, ``MODELTEL_SAMPLE_RATE`` 1 and 0.1;
- ``modeltel-100%-collector-down``: the same at 100% with nothing listening at the endpoint;
- ``modeltel-100%-gc-freeze`` (not in the default list): 100% with ``MODELTEL_GC_FREEZE=1``.

The server is pinned to CPU 0; wrk and the collector share CPU 1, so the figure is what the
serving core loses. On a shared machine throughput drifts by tens of percent from minute to
minute, so the design is built to survive that:

- rounds run every variant once, in alternating order (forward, then backward), so drift
  hits all variants alike;
- each variant's ratios are taken against the ``uninstrumented`` run of the same round and
  the table gives the median over rounds (and the range), not a ratio of medians;
- besides throughput, the server process's CPU time per request (all its threads, from
  /proc) is compared: it moves much less with load on the other core than req/s does;
- the 1-minute load average is printed with every run and summarised with the table.

    python bench/overhead.py [--seconds 8] [--rounds 5] [--connections 4] [--baseline-code DIR]

With ``--baseline-code DIR`` (another build of modeltel installed there with ``pip install
--no-deps --target DIR <checkout>``) each modeltel variant also runs served by that build,
so a change is compared before and after in the same rounds.
"""

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BODY = '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""
SERVER_CPU, LOAD_CPU = "0", "1"


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us_per_request: float = float("nan")
    load_average: float = float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MODELTEL_", "OTEL_"))}


def start_collector(work: Path, idle: bool = False) -> tuple[subprocess.Popen, str]:
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    config = {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                    "http": {"endpoint": f"127.0.0.1:{http_port}"},
                }
            }
        },
        "processors": {"predictions": {}},
        "exporters": {"prometheus": {}, "debug": {"verbosity": "basic", "interval_seconds": 60}},
        "service": {
            "telemetry": {"address": f"127.0.0.1:{metrics_port}"},
            "pipelines": {
                "traces": {"receivers": ["otlp"], "exporters": ["debug"]},
                "metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]},
                "logs": {"receivers": ["otlp"], "processors": ["predictions"], "exporters": ["debug"]},
            },
        },
    }
    path = work / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["taskset", "-c", LOAD_CPU, str(BIN / "modeltel"), "collector", "--config", str(path)]
    if idle:
        args = ["chrt", "--idle", "0", *args]
    process = subprocess.Popen(
        args, env=base_env(), stdout=(work / "collector.log").open("wb"), stderr=subprocess.STDOUT
    )
    wait_for(f"http://127.0.0.1:{metrics_port}/readyz")
    return process, f"http://127.0.0.1:{http_port}"


BASELINE = "@baseline"
baseline_code: str | None = None  # --baseline-code: another build of modeltel, for "...@baseline"


def variant_command(name: str, port: int, collector: str) -> tuple[list[str], dict[str, str]]:
    uvicorn = [str(BIN / "uvicorn"), "iris_server:app", "--app-dir", str(REPO / "examples")]
    uvicorn += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    # bench/latency.py keeps its connections across the seconds a server is stopped
    uvicorn += ["--timeout-keep-alive", "3600"]
    env = base_env()
    if name.endswith(BASELINE):  # the same variant, served by the baseline build of modeltel
        name = name.removesuffix(BASELINE)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [baseline_code, env.get("PYTHONPATH")]))
    otlp = {
        "OTEL_SERVICE_NAME": "iris-bench",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    if name == "otel-instrument":
        env |= otlp | {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
        }
        uvicorn = [str(BIN / "opentelemetry-instrument"), *uvicorn]
    elif name.startswith("modeltel"):
        rate = "0.1" if "10%" in name else "1"
        if name.endswith("collector-down"):
            otlp["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
        env |= otlp | {
            "MODELTEL_ENABLED": "1",
            "MODELTEL_SAMPLE_RATE": rate,
            "MODELTEL_MODEL_NAME": "iris-classifier",
        }
        if name.endswith("gc-freeze"):
            env["MODELTEL_GC_FREEZE"] = "1"
    return ["taskset", "-c", SERVER_CPU, *uvicorn], env


def run_wrk(port: int, seconds: int, connections: int, script: Path) -> Result:
    args = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    args += ["-s", str(script), f"http://127.0.0.1:{port}/predict"]
    output = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def parse_wrk(output: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _milliseconds(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _milliseconds(re.search(r"\s99%\s+(\S+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(
        int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?):\s*(\d+)", output)
    )
    return Result(rps, p50, p99, errors, requests)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def served(name: str, collector: str, work: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    """A fresh server process for variant ``name``, ready to serve; its port. Its output goes
    to a log in ``work``; it is stopped on leaving."""
    port = free_port()
    command, env = variant_command(name, port, collector)
    log = (work / f"{name.replace('%', 'pct')}.log").open("ab")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        yield server, port
    finally:
        server.terminate()
        server.wait(20)
        log.close()


def measure(name: str, collector: str, args: argparse.Namespace, script: Path, work: Path) -> Result:
    with served(name, collector, work) as (server, port):
        run_wrk(port, 2, args.connections, script)  # warm-up: first-request set-up, caches
        cpu_before = cpu_seconds(server.pid)
        result = run_wrk(port, args.seconds, args.connections, script)
        result.cpu_us_per_request = (cpu_seconds(server.pid) - cpu_before) / max(result.requests, 1) * 1e6
        result.load_average = os.getloadavg()[0]
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--variants",
        default="uninstrumented,otel-instrument,modeltel-100%,modeltel-10%,modeltel-100%-collector-down",
        help="comma-separated",
    )
    parser.add_argument(
        "--baseline-code",
        help="a directory holding another build of modeltel (pip install --no-deps --target DIR "
        "<checkout>): every modeltel variant also runs served by it, as NAME@baseline, in the same rounds",
    )
    args = parser.parse_args()
    global baseline_code
    baseline_code = args.baseline_code
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (Debian packages wrk, util-linux); `make bench` installs them")
    variants = args.variants.split(",")
    if args.baseline_code:
        variants += [f"{name}{BASELINE}" for name in variants if name.startswith("modeltel")]
    if "otel-instrument" in variants and not (BIN / "opentelemetry-instrument").exists():
        sys.exit("opentelemetry-instrument is missing: pip install '.[bench]'")
    results: dict[str, list[Result]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="modeltel-bench-") as tmp:
        work = Path(tmp)
        script = work / "predict.lua"
        script.write_text(WRK_SCRIPT)
        collector, endpoint = start_collector(work)
        try:
            for round_number in range(args.rounds):
                order = variants if round_number % 2 == 0 else variants[::-1]
                for name in order:
                    result = measure(name, endpoint, args, script, work)
                    results[name].append(result)
                    print(
                        f"round {round_number + 1} {name:>38}: {result.requests_per_second:8.0f} req/s "
                        f"CPU {result.cpu_us_per_request:5.0f} us/req  p50 {result.p50_ms:6.2f} ms  "
                        f"p99 {result.p99_ms:6.2f} ms  errors {result.errors}  "
                        f"load {result.load_average:.2f}",
                        flush=True,
                    )
        finally:
            collector.terminate()
            collector.wait(20)
    report(results, args)


def _median_range(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(results: dict[str, list[Result]], args: argparse.Namespace) -> None:
    """Per variant: medians over rounds; ratios are per round against that round's baseline."""
    baseline = results.get("uninstrumented")
    loads = [r.load_average for runs in results.values() for r in runs]
    print(
        f"\nwrk -t1 -c{args.connections}, {args.seconds}s x {args.rounds} rounds; medians over rounds "
        f"(range). 1-min load average during the runs: median {statistics.median(loads):.2f}, "
        f"{min(loads):.2f}-{max(loads):.2f}"
    )
    print(
        f"{'variant':>38} {'req/s':>6} {'ratio':>16} {'CPU us/req':>10} {'CPU ratio':>16} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'+p99 ms':>7} {'errors':>6}"
    )
    for name, runs in results.items():
        rps = statistics.median(r.requests_per_second for r in runs)
        cpu = statistics.median(r.cpu_us_per_request for r in runs)
        p50 = statistics.median(r.p50_ms for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        if baseline:
            pairs = list(zip(runs, baseline, strict=True))
            ratio = _median_range([r.requests_per_second / b.requests_per_second for r, b in pairs])
            cpu_ratio = _median_range([b.cpu_us_per_request / r.cpu_us_per_request for r, b in pairs])
            added = f"{statistics.median(r.p99_ms - b.p99_ms for r, b in pairs):7.2f}"
        else:
            ratio = cpu_ratio = added = "-"
        print(
            f"{name:>38} {rps:6.0f} {ratio:>16} {cpu:10.0f} {cpu_ratio:>16} "
            f"{p50:7.2f} {p99:7.2f} {added:>7} {errors:6d}"
        )
    print(
        "ratio: throughput relative to the same round's uninstrumented run. CPU ratio: "
        "uninstrumented CPU per request over this variant's (the serving core's share of the "
        "work, robust to load on the other core). +p99: this variant's p99 minus the same "
        "round's uninstrumented p99."
    )


if __name__ == "__main__":
    main()
