"""Rows per second of ``modeltel replay``'s encoding, stage by stage, against the agent's path.

A seeded table of ``--rows`` rows and ``--features`` float features (one categorical) goes
through replay's stages: Arrow columns → per-row dicts (``to_pylist``), JSON bodies
(``encode_body``), OTLP ``LogRecord``s, ``SerializeToString``, optionally gzip. The baseline,
in the same process, is what the agent does per prediction through the OpenTelemetry SDK:
``encode_body`` plus an SDK log record, encoded by the OTLP exporter's own encoder. A last
run posts the whole file to a real collector (``modeltel collector`` started here on free
ports) to give the end-to-end figure.

    python bench/replay.py [--rows 50000] [--features 20] [--no-collector]
"""

import argparse
import gzip
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seeded_table(rows: int, features: int) -> pa.Table:
    rng = np.random.default_rng(0)
    columns = {f"f{i}": rng.normal(size=rows).round(5) for i in range(features - 1)}
    columns["segment"] = rng.choice(["a", "b", "c"], rows)
    columns["prediction"] = rng.integers(0, 2, rows)
    return pa.table(columns)


def timed(label: str, rows: int, function, *args):
    began = time.perf_counter()
    result = function(*args)
    seconds = time.perf_counter() - began
    print(f"  {label:<34} {seconds * 1e3:9.1f} ms  {rows / seconds:12,.0f} rows/s")
    return result, seconds


def replay_stages(table: pa.Table, batch: int) -> float:
    from modeltel.replay import records

    rows = table.num_rows
    features = [name for name in table.column_names if name != "prediction"]
    resource = records.replay_resource("bench", "0" * 32)
    ids = [f"{i:032x}" for i in range(rows)]
    times = np.full(rows, time.time_ns(), dtype=np.int64)
    print(f"replay stages ({rows} rows, {len(features)} features, batches of {batch}):")
    dicts, t1 = timed("to_pylist", rows, lambda: table.select(features).to_pylist())
    predictions = table.column("prediction").to_pylist()
    bodies, t2 = timed("encode_body", rows, records.prediction_bodies, dicts, predictions)

    def build() -> list:
        return [
            records.event_request(
                resource, "modeltel.prediction", bodies[s : s + batch], ids[s : s + batch],
                times[s : s + batch], 0, "m", "1",
            )
            for s in range(0, rows, batch)
        ]  # fmt: skip

    requests, t3 = timed("LogRecord + request", rows, build)
    payloads, t4 = timed("SerializeToString", rows, lambda: [r.SerializeToString() for r in requests])
    for level in (1, 6):
        timed(
            f"gzip level {level} (--gzip uses 1)",
            rows,
            lambda level=level: [gzip.compress(p, level) for p in payloads],
        )
    total = t1 + t2 + t3 + t4
    print(f"  {'total without gzip':<34} {total * 1e3:9.1f} ms  {rows / total:12,.0f} rows/s")
    return rows / total


def agent_baseline(table: pa.Table) -> float:
    """The agent's per-prediction path: encode_body + an SDK LogRecord, OTLP-encoded by the SDK."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from modeltel.agent.predictions import encode_body

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("modeltel.agent")
    features = [name for name in table.column_names if name != "prediction"]
    rows = table.select(features).to_pylist()
    predictions = table.column("prediction").to_pylist()
    print(f"agent baseline ({len(rows)} rows through the OpenTelemetry SDK):")

    def emit() -> None:
        for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True)):
            logger.emit(
                body=encode_body({"features": row, "prediction": prediction}),
                attributes={
                    "ml.model.name": "m",
                    "ml.model.version": "1",
                    "modeltel.prediction.id": f"{i:032x}",
                },
                event_name="modeltel.prediction",
            )

    _, t1 = timed("encode_body + SDK emit", len(rows), emit)
    logs = exporter.get_finished_logs()
    _, t2 = timed("SDK OTLP encode + serialise", len(rows), lambda: encode_logs(logs).SerializeToString())
    total = t1 + t2
    print(f"  {'total':<34} {total * 1e3:9.1f} ms  {len(rows) / total:12,.0f} rows/s")
    return len(rows) / total


def end_to_end(table: pa.Table, workdir: Path) -> None:
    """`modeltel replay` against a real collector (debug exporter basic, so the collector is not the log)."""
    import yaml

    grpc, http, metrics = free_port(), free_port(), free_port()
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc}"},
                                             "http": {"endpoint": f"127.0.0.1:{http}"}}}},
        "processors": {"predictions": {}},
        "exporters": {"debug": {"verbosity": "basic"}},
        "service": {"telemetry": {"address": f"127.0.0.1:{metrics}"},
                    "pipelines": {"logs": {"receivers": ["otlp"], "processors": ["predictions"],
                                           "exporters": ["debug"]}}},
    }  # fmt: skip
    (workdir / "collector.yaml").write_text(yaml.safe_dump(config))
    path = workdir / "rows.parquet"
    pq.write_table(table, path)
    bin_dir = Path(sys.executable).parent
    collector = subprocess.Popen(
        [
            str(bin_dir / "modeltel"),
            "collector",
            "--config",
            str(workdir / "collector.yaml"),
            "--log-level",
            "WARNING",
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", http)) == 0:
                    break
            time.sleep(0.2)
        print("end to end (modeltel replay → modeltel collector on 127.0.0.1, same 2-core machine):")
        for concurrency in (1, 2, 4):
            result = subprocess.run(
                [str(bin_dir / "modeltel"), "replay", str(path), "--model", "m", "--endpoint",
                 f"http://127.0.0.1:{http}", "--concurrency", str(concurrency)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            print(
                f"  --concurrency {concurrency}: " + (result.stdout.strip() or result.stderr.strip()[-500:])
            )
    finally:
        collector.terminate()
        collector.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--no-collector", action="store_true")
    args = parser.parse_args()
    table = seeded_table(args.rows, args.features)
    replay_rate = replay_stages(table, args.batch)
    agent_rate = agent_baseline(table)
    print(f"replay encoding / agent SDK path: {replay_rate / agent_rate:.1f}x rows/s")
    if not args.no_collector:
        with tempfile.TemporaryDirectory() as workdir:
            end_to_end(table, Path(workdir))


if __name__ == "__main__":
    main()
