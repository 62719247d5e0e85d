"""Label joins per second and join-store bytes per million predictions, against plain SQLite.

A real collector (``modeltel collector``, logs pipeline ``otlp -> performance``, join store on
disk) takes ``--predictions`` binary-classifier predictions (4 features, probabilities of two
classes, sample rate 1) over OTLP/HTTP in batches of 1,000; then their labels arrive in a
shuffled order, half through ``POST /api/v1/labels`` (batches of ``--api-batch``) and half as
``modeltel.label`` records over OTLP/HTTP (batches of 1,000). Each phase reports wall-clock
rate and the collector's CPU seconds (from /proc, so load elsewhere on the machine inflates
the wall figure, not the CPU one). The baseline, in this process and the same run: a plain
SQLite table of (id BLOB PRIMARY KEY, label) WITHOUT ROWID with the same ids, an executemany
INSERT of the predictions and an executemany UPDATE per label batch, in the same WAL mode.

    python bench/labels.py [--predictions 200000] [--api-batch 5000]
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def start_collector(directory: Path) -> tuple[subprocess.Popen, int, int]:
    http, telemetry = free_port(), free_port()
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{http}"}}}},
        "processors": {"performance": {"state_dir": str(directory / "state"), "evaluation_interval": "1h"}},
        "exporters": {"debug": {"verbosity": "basic", "interval_seconds": 3600}},
        "service": {
            "telemetry": {"address": f"127.0.0.1:{telemetry}"},
            "pipelines": {
                "logs": {"receivers": ["otlp"], "processors": ["performance"], "exporters": ["debug"]}
            },
        },
    }
    (directory / "collector.yaml").write_text(yaml.safe_dump(config))
    modeltel = Path(sys.executable).parent / "modeltel"
    log = (directory / "collector.log").open("wb")
    process = subprocess.Popen([str(modeltel), "collector", "--config", str(directory / "collector.yaml")],
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
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


def post_otlp(client: httpx.Client, http: int, request) -> None:
    response = client.post(f"http://127.0.0.1:{http}/v1/logs", content=request.SerializeToString(),
                           headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    response.raise_for_status()


def phase(name: str, pid: int, count: int, run) -> tuple[float, float]:
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    run()
    wall, cpu = time.perf_counter() - wall, cpu_seconds(pid) - cpu
    print(f"  {name:<34} {count / wall:>10,.0f} /s wall   {count / max(cpu, 1e-9):>10,.0f} /s per CPU-second")
    return count / wall, count / max(cpu, 1e-9)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=200_000)
    parser.add_argument("--api-batch", type=int, default=5000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.predictions
    hex_ids = [secrets.token_hex(16) for _ in range(n)]
    ids = [bytes.fromhex(i) for i in hex_ids]
    positive = rng.uniform(size=n).round(6)
    labels = (rng.uniform(size=n) < positive).astype(int).tolist()
    features = rng.normal(size=(n, 4)).round(4).tolist()
    bodies = [
        encode_body({"features": dict(zip("abcd", f, strict=True)), "prediction": int(p > 0.5),
                     "probabilities": {"0": round(1 - p, 6), "1": p}})
        for f, p in zip(features, positive.tolist(), strict=True)
    ]  # fmt: skip
    order = rng.permutation(n)  # labels arrive out of order
    half = n // 2
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="bench"))])
    now = time.time_ns()
    times = np.full(n, now - 3_600 * 10**9, dtype=np.int64)
    print(f"{n:,} predictions, labels for all (half API in batches of {args.api_batch}, half OTLP); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-labels-") as temporary:
        directory = Path(temporary)
        process, http, telemetry = start_collector(directory)
        try:
            client = httpx.Client(timeout=120)
            requests = [
                event_request(resource, PREDICTION_EVENT, bodies[s : s + BATCH], hex_ids[s : s + BATCH],
                              times[s : s + BATCH], now, "bench", "1")
                for s in range(0, n, BATCH)
            ]  # fmt: skip
            phase(
                "predictions stored (OTLP)",
                process.pid,
                n,
                lambda: [post_otlp(client, http, r) for r in requests],
            )

            def api() -> None:
                rows = order[:half]
                for start in range(0, len(rows), args.api_batch):
                    chunk = rows[start : start + args.api_batch].tolist()
                    items = [{"prediction_id": hex_ids[i], "label": labels[i]} for i in chunk]
                    client.post(f"http://127.0.0.1:{telemetry}/api/v1/labels", json=items).raise_for_status()

            phase("label joins (POST /api/v1/labels)", process.pid, half, api)
            rows = order[half:].tolist()
            label_requests = []
            for s in range(0, len(rows), BATCH):
                chunk = rows[s : s + BATCH]
                bodies = [encode_body({"label": labels[i]}) for i in chunk]
                label_ids = [hex_ids[i] for i in chunk]
                stamps = np.full(len(chunk), now, dtype=np.int64)
                label_requests.append(
                    event_request(resource, LABEL_EVENT, bodies, label_ids, stamps, now, "bench", "1")
                )
            phase("label joins (OTLP modeltel.label)", process.pid, n - half,
                  lambda: [post_otlp(client, http, r) for r in label_requests])  # fmt: skip
            joined = gauge(telemetry, "modeltel_labels_joined_total")
            assert joined == n, f"{joined} of {n} labels joined"
        finally:
            process.terminate()
            process.wait(60)
        store = sum(p.stat().st_size for p in (directory / "state").glob("performance.sqlite*"))
        print(f"  {'join store bytes per 1M predictions':<34} {store / n * 1e6 / 2**20:>10,.1f} MiB "
              f"({store / n:.0f} B per labelled prediction, indexes included)")  # fmt: skip
        evaluation(directory / "state" / "performance.sqlite", rng)
        baseline(directory, ids, labels, order, args.api_batch)


if __name__ == "__main__":
    main()
