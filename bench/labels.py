"""Label joins per second and join-store bytes per million predictions, against plain SQLite;
the performance processor's CPU per prediction, against another modeltel build in the same run.

A real collector (``modeltel collector``, logs pipeline ``otlp -> performance``, join store on
disk) takes ``--predictions`` binary-classifier predictions (4 features, probabilities of two
classes, sample rate 1) over OTLP/HTTP in batches of 1,000; then their labels arrive in a
shuffled order, half through ``POST /api/v1/labels`` (batches of ``--api-batch``) and half as
``modeltel.label`` records over OTLP/HTTP (batches of 1,000). Each phase reports wall-clock
rate and the collector's CPU seconds (from /proc, so load elsewhere on the machine inflates
the wall figure, not the CPU one), split into the event-loop thread (receiving, decoding) and
the worker threads (the join store's SQLite writes). A collector without the processor
(``otlp -> debug``) takes the same predictions first: the difference is the processor's own
CPU per prediction. With ``--baseline-path`` (a directory holding another modeltel build,
e.g. ``pip install --no-deps --target DIR <main checkout>``) the same phases run against that
build's collector too and the ratios are printed. The plain-SQLite baseline, in this process:
a table of (id BLOB PRIMARY KEY, label) WITHOUT ROWID with the same ids, an executemany INSERT
of the predictions and an executemany UPDATE per label batch, in the same WAL mode.

    python bench/labels.py [--predictions 200000] [--api-batch 5000] [--baseline-path DIR]
"""

import argparse
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import yaml
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from modeltel.agent.record_body import encode_body
from modeltel.collector.processors.performance.evaluation import StreamContext, evaluate_stream
from modeltel.collector.processors.performance.store import JoinStore
from modeltel.drift import build_profile
from modeltel.performance.estimation import PerformanceEstimator
from modeltel.replay.records import event_request
from modeltel.semconv import LABEL_EVENT, PREDICTION_EVENT

BATCH = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (utime + stime) of the process's event-loop thread and of all its others."""
    split = {"loop": 0.0, "workers": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that just ended
            continue
        split["loop" if int(task.name) == pid else "workers"] += (
            int(fields[11]) + int(fields[12])
        ) / CLOCK_TICKS
    return split


@dataclass(frozen=True)
class Build:
    """A modeltel to run the collector of: this one, or another build's directory on PYTHONPATH."""

    name: str
    path: Path | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "modeltel"]

    def environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        if self.path is not None:
            environment["PYTHONPATH"] = str(self.path)
        return environment


def start_collector(
    directory: Path, build: Build, processors: list[str]
) -> tuple[subprocess.Popen, int, int]:
    http, telemetry = free_port(), free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{http}"}}}},
        "processors": {"performance": {"state_dir": str(directory / "state"), "evaluation_interval": "1h"}},
        "exporters": {"debug": {"verbosity": "basic", "interval_seconds": 3600}},
        "service": {
            "telemetry": {"address": f"127.0.0.1:{telemetry}"},
            "pipelines": {"logs": {"receivers": ["otlp"], "processors": processors, "exporters": ["debug"]}},
        },
    }
    if not processors:
        del config["processors"]
    (directory / "collector.yaml").write_text(yaml.safe_dump(config))
    log = (directory / "collector.log").open("wb")
    process = subprocess.Popen([*build.command(), "collector", "--config", str(directory / "collector.yaml")],
                               stdout=log, stderr=subprocess.STDOUT, env=build.environment())  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{telemetry}/readyz", timeout=1).status_code == 200:
                return process, http, telemetry
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"collector did not start: {(directory / 'collector.log').read_text()}")


def gauge(telemetry: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{telemetry}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@dataclass(frozen=True)
class Phase:
    wall_rate: float
    loop_us: float  # event-loop thread CPU µs per item
    workers_us: float

    @property
    def cpu_us(self) -> float:
        return self.loop_us + self.workers_us


def phase(name: str, pid: int, count: int, run) -> Phase:
    before, wall = thread_seconds(pid), time.perf_counter()
    run()
    wall, after = time.perf_counter() - wall, thread_seconds(pid)
    loop, workers = (after[k] - before[k] for k in ("loop", "workers"))
    result = Phase(count / wall, loop / count * 1e6, workers / count * 1e6)
    print(f"  {name:<34} {result.wall_rate:>9,.0f} /s wall  {result.cpu_us:>6.1f} µs CPU each "
          f"(loop {result.loop_us:.1f}, workers {result.workers_us:.1f})")  # fmt: skip
    return result


def baseline(directory: Path, ids: list[bytes], labels: list[int], order: np.ndarray, api_batch: int) -> None:
    """The same rows in a plain two-column table: what the store's extra columns and work cost."""
    db = sqlite3.connect(directory / "plain.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE t (id BLOB PRIMARY KEY, label INTEGER) WITHOUT ROWID")
    started = time.process_time()
    for start in range(0, len(ids), BATCH):
        with db:
            db.executemany("INSERT INTO t (id) VALUES (?)", [(i,) for i in ids[start : start + BATCH]])
    insert = time.process_time() - started
    half = len(order) // 2
    started = time.process_time()
    for batch, rows in ((api_batch, order[:half]), (BATCH, order[half:])):
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch].tolist()
            with db:
                db.executemany("UPDATE t SET label = ? WHERE id = ?", [(labels[i], ids[i]) for i in chunk])
    update = time.process_time() - started
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = sum(p.stat().st_size for p in directory.glob("plain.sqlite*"))
    print(f"  {'plain INSERT':<34} {len(ids) / insert:>10,.0f} /s CPU")
    print(f"  {'plain UPDATE (label joins)':<34} {len(ids) / update:>10,.0f} /s CPU")
    print(f"  {'plain table bytes per 1M rows':<34} {size / len(ids) * 1e6 / 2**20:>10,.1f} MiB")


def evaluation(path: Path, rng: np.random.Generator) -> None:
    """CPU time of one evaluation of the stored stream (three windows, realized metrics and a
    calibrated estimate from a 5,000-row labelled reference profile), in this process."""
    positive = rng.uniform(size=5000)
    reference = {
        "x": rng.normal(size=5000), "prediction": (positive > 0.5).astype(int), "proba_0": 1 - positive,
        "proba_1": positive, "label": (rng.uniform(size=5000) < positive).astype(int),
    }  # fmt: skip
    profile = build_profile(reference, model="bench", version="1", prediction_columns=["prediction"],
                            score_columns=["proba_0", "proba_1"], target_column="label")  # fmt: skip
    store = JoinStore(path, 30 * 86400, 86400, 10**9, 10**9)
    stream = store.streams[("bench", "1")]
    context = StreamContext(stream.id, "bench", "1", tuple(stream.classes), {}, (), profile,
                            PerformanceEstimator.from_profile(profile))  # fmt: skip
    windows = [("1d", 86400.0), ("7d", 7 * 86400.0), ("30d", 30 * 86400.0)]
    started = time.process_time()
    result = evaluate_stream(store.reader(), context, windows)
    seconds = time.process_time() - started
    rows = result.windows[-1].predictions
    print(f"  {'one evaluation (3 windows, estimate)':<34} {seconds:>10.2f} s CPU for {rows:,} rows "
          f"({seconds / rows * 1e6:.1f} s per 1M rows)")  # fmt: skip
    store.close()


@dataclass
class Workload:
    """The same predictions and labels for every collector of the run."""

    hex_ids: list[str]
    labels: list[int]
    order: np.ndarray
    requests: list
    label_requests: list
    api_batch: int

    @property
    def count(self) -> int:
        return len(self.hex_ids)


def workload(n: int, api_batch: int, rng: np.random.Generator) -> Workload:
    hex_ids = [secrets.token_hex(16) for _ in range(n)]
    positive = rng.uniform(size=n).round(6)
    labels = (rng.uniform(size=n) < positive).astype(int).tolist()
    features = rng.normal(size=(n, 4)).round(4).tolist()
    bodies = [
        encode_body({"features": dict(zip("abcd", f, strict=True)), "prediction": int(p > 0.5),
                     "probabilities": {"0": round(1 - p, 6), "1": p}})
        for f, p in zip(features, positive.tolist(), strict=True)
    ]  # fmt: skip
    order = rng.permutation(n)  # labels arrive out of order
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="bench"))])
    now = time.time_ns()
    times = np.full(n, now - 3_600 * 10**9, dtype=np.int64)
    requests = [
        event_request(resource, PREDICTION_EVENT, bodies[s : s + BATCH], hex_ids[s : s + BATCH],
                      times[s : s + BATCH], now, "bench", "1").SerializeToString()
        for s in range(0, n, BATCH)
    ]  # fmt: skip
    rows = order[n // 2 :].tolist()
    label_requests = []
    for s in range(0, len(rows), BATCH):
        chunk = rows[s : s + BATCH]
        label_bodies = [encode_body({"label": labels[i]}) for i in chunk]
        stamps = np.full(len(chunk), now, dtype=np.int64)
        request = event_request(resource, LABEL_EVENT, label_bodies, [hex_ids[i] for i in chunk], stamps, now,
                                "bench", "1")  # fmt: skip
        label_requests.append(request.SerializeToString())
    return Workload(hex_ids, labels, order, requests, label_requests, api_batch)


def post_all(client: httpx.Client, http: int, requests: list[bytes]) -> None:
    for request in requests:
        response = client.post(f"http://127.0.0.1:{http}/v1/logs", content=request,
                               headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
        response.raise_for_status()


def receive_only(directory: Path, build: Build, work: Workload) -> Phase:
    """The collector's CPU for the same predictions without the processor (``otlp -> debug``)."""
    process, http, _ = start_collector(directory, build, [])
    try:
        with httpx.Client(timeout=120) as client:
            return phase("predictions received, no processor", process.pid, work.count,
                         lambda: post_all(client, http, work.requests))  # fmt: skip
    finally:
        process.terminate()
        process.wait(60)


def with_performance(directory: Path, build: Build, work: Workload) -> dict[str, Phase]:
    """The three phases against a collector with the processor; the store's bytes per prediction."""
    n, half = work.count, work.count // 2
    process, http, telemetry = start_collector(directory, build, ["performance"])
    results = {}
    try:
        client = httpx.Client(timeout=120)
        results["predictions"] = phase("predictions stored (OTLP)", process.pid, n,
                                       lambda: post_all(client, http, work.requests))  # fmt: skip

        def api() -> None:
            rows = work.order[:half]
            for start in range(0, len(rows), work.api_batch):
                chunk = rows[start : start + work.api_batch].tolist()
                items = [{"prediction_id": work.hex_ids[i], "label": work.labels[i]} for i in chunk]
                client.post(f"http://127.0.0.1:{telemetry}/api/v1/labels", json=items).raise_for_status()

        results["api"] = phase("label joins (POST /api/v1/labels)", process.pid, half, api)
        results["otlp labels"] = phase("label joins (OTLP modeltel.label)", process.pid, n - half,
                                       lambda: post_all(client, http, work.label_requests))  # fmt: skip
        joined = gauge(telemetry, "modeltel_labels_joined_total")
        assert joined == n, f"{joined} of {n} labels joined"
    finally:
        process.terminate()
        process.wait(60)
    store = sum(p.stat().st_size for p in (directory / "state").glob("performance.sqlite*"))
    print(f"  {'join store bytes per 1M predictions':<34} {store / n * 1e6 / 2**20:>10,.1f} MiB "
          f"({store / n:.0f} B per labelled prediction, indexes included)")  # fmt: skip
    return results


def run_build(directory: Path, build: Build, work: Workload) -> dict[str, Phase]:
    print(f"{build.name} (load average {os.getloadavg()[0]:.1f}):")
    received = receive_only(directory / "receive", build, work)
    results = with_performance(directory / "performance", build, work)
    processor = results["predictions"].cpu_us - received.cpu_us
    print(f"  {'performance processor CPU':<34} {processor:>6.1f} µs per prediction "
          f"({results['predictions'].cpu_us:.1f} with it - {received.cpu_us:.1f} without)")  # fmt: skip
    results["processor"] = Phase(0.0, processor, 0.0)
    return results


def compare(current: dict[str, Phase], baseline: dict[str, Phase]) -> None:
    print("this build vs baseline build (CPU per item; < 1: this build is cheaper):")
    for name in current:
        print(f"  {name:<34} {current[name].cpu_us:>6.1f} vs {baseline[name].cpu_us:>6.1f} µs  "
              f"ratio {current[name].cpu_us / baseline[name].cpu_us:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=200_000)
    parser.add_argument("--api-batch", type=int, default=5000)
    parser.add_argument(
        "--baseline-path", type=Path, help="another modeltel build (a pip --target directory)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.predictions
    work = workload(n, args.api_batch, rng)
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{n:,} predictions, labels for all (half API in batches of {args.api_batch}, half OTLP); "
          f"load average {load} on {os.cpu_count()} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-labels-") as temporary:
        directory = Path(temporary)
        current = run_build(directory / "current", Build("this build"), work)
        if args.baseline_path is not None:
            baseline_results = run_build(
                directory / "baseline", Build("baseline build", args.baseline_path), work
            )
            compare(current, baseline_results)
        evaluation(directory / "current" / "performance" / "state" / "performance.sqlite", rng)
        ids = [bytes.fromhex(i) for i in work.hex_ids]
        baseline(directory, ids, work.labels, work.order, args.api_batch)
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
