"""Ingest throughput of the whole logs pipeline on one core: OTLP in, predictions processor, Loki out.

A real ``modeltel collector`` process pinned to one core (sched_setaffinity) receives
prediction-log batches (512 records x 25 features, the agent's wire format) over OTLP/HTTP
and OTLP/gRPC from this process, and forwards them with the ``loki`` exporter (OTLP
protocol, in-memory queue) to a local Loki sink (an aiohttp process answering 204). The
sender and sink run on the other cores. Figures:

- ingest records/s: records acknowledged by the collector per second of sending;
- end-to-end records/s: records the exporter reports sent to Loki, over the same clock;
- collector CPU seconds per million records (user+sys, from /proc), the per-core cost;
- RSS of the collector sampled every second, to check it stays flat.

    python bench/ingest.py [--records 1000000] [--transport both] [--concurrency 8]
    python bench/ingest.py --records 10000000 --transport http   # the RSS-over-10M run
"""

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import orjson
import yaml
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

BIN = Path(sys.executable).parent
EXPORT_LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
BATCH_ROWS, FEATURES = 512, 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def prediction_batches(count: int, seed: int = 0) -> list[bytes]:
    """Serialized ExportLogsServiceRequests as the agent sends them (body: one JSON string)."""
    rng = np.random.default_rng(seed)
    names = [f"feature_{i}" for i in range(FEATURES)]
    batches = []
    for number in range(count):
        values = rng.normal(size=(BATCH_ROWS, FEATURES)).round(4)
        records = []
        for row_number, row in enumerate(values.tolist()):
            body = orjson.dumps(
                {"features": dict(zip(names, row, strict=True)), "prediction": int(row[0] > 0)}
            )
            records.append(
                LogRecord(
                    time_unix_nano=time.time_ns(),
                    severity_number=9,
                    event_name="modeltel.prediction",
                    body=AnyValue(string_value=body.decode()),
                    trace_id=rng.bytes(16),
                    span_id=rng.bytes(8),
                    attributes=[
                        attribute("ml.model.name", "churn"),
                        attribute("ml.model.version", "3"),
                        attribute("modeltel.prediction.id", f"{number * BATCH_ROWS + row_number:032x}"),
                    ],
                )
            )
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=Resource(attributes=[attribute("service.name", "bench")]),
                    scope_logs=[ScopeLogs(log_records=records)],
                )
            ]
        )
        batches.append(request.SerializeToString())
    return batches


def run_sink(port: int, cpus: set[int]) -> None:
    """A Loki stand-in: reads each body and answers 204 like Loki's OTLP endpoint."""
    from aiohttp import web

    os.sched_setaffinity(0, cpus)

    async def push(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/otlp/v1/logs", push)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def collector_config(ports: dict[str, int], processors: list[str], state: Path | None) -> dict:
    queue: dict = {"queue_size": 64}
    if state is not None:
        queue["storage"] = {"directory": str(state)}
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{ports['grpc']}"},
                    "http": {"endpoint": f"127.0.0.1:{ports['http']}"},
                }
            }
        },
        "processors": {"predictions": {}},
        "exporters": {
            "loki": {
                "endpoint": f"http://127.0.0.1:{ports['sink']}",
                "sending_queue": queue,
            }
        },
        "service": {
            "telemetry": {"address": f"127.0.0.1:{ports['metrics']}"},
            "pipelines": {"logs": {"receivers": ["otlp"], "processors": processors, "exporters": ["loki"]}},
        },
    }


def metric(url: str, name: str) -> float:
    total = 0.0
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def send_http(url: str, batches: list[bytes], total_batches: int, concurrency: int) -> int:
    import aiohttp

    refused = 0
    next_batch = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_batch, refused
        while next_batch < total_batches:
            body = batches[next_batch % len(batches)]
            next_batch += 1
            while True:
                async with session.post(
                    url, data=body, headers={"Content-Type": "application/x-protobuf"}
                ) as r:
                    await r.read()
                    if r.status == 200:
                        break
                    refused += 1
                    await asyncio.sleep(0.05)  # backpressure: the sender backs off and retries

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return refused


async def send_grpc(target: str, batches: list[bytes], total_batches: int, concurrency: int) -> int:
    refused = 0
    next_batch = 0
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        export = channel.unary_unary(EXPORT_LOGS, request_serializer=None, response_deserializer=None)

        async def worker() -> None:
            nonlocal next_batch, refused
            while next_batch < total_batches:
                body = batches[next_batch % len(batches)]
                next_batch += 1
                while True:
                    try:
                        await export(body, timeout=30)
                        break
                    except grpc.aio.AioRpcError as error:
                        if error.code() != grpc.StatusCode.UNAVAILABLE:
                            raise
                        refused += 1
                        await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return refused


def run_transport(transport: str, args: argparse.Namespace, batches: list[bytes], cpus: list[int]) -> dict:
    ports = {name: free_port() for name in ("grpc", "http", "metrics", "sink")}
    collector_cpu, other_cpus = {cpus[0]}, set(cpus[1:]) or {cpus[0]}
    sink = multiprocessing.Process(target=run_sink, args=(ports["sink"], other_cpus), daemon=True)
    sink.start()
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "collector.yaml"
        processors = [] if args.no_processor else ["predictions"]
        config_path.write_text(
            yaml.safe_dump(
                collector_config(ports, processors, Path(tmp) / "state" if args.persistent else None)
            )
        )
        log = open(Path(tmp) / "collector.log", "wb")  # noqa: SIM115
        collector = subprocess.Popen(
            [str(BIN / "modeltel"), "collector", "--config", str(config_path), "--log-level", "WARNING"],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, collector_cpu),
        )
        metrics_url = f"http://127.0.0.1:{ports['metrics']}/metrics"
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{ports['metrics']}/readyz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline or collector.poll() is not None:
                    raise SystemExit(f"collector did not start: {(Path(tmp) / 'collector.log').read_text()}")
                time.sleep(0.2)
            total_batches = max(1, args.records // BATCH_ROWS)
            records = total_batches * BATCH_ROWS
            rss: list[float] = [rss_mib(collector.pid)]
            cpu_before = cpu_seconds(collector.pid)
            started = time.perf_counter()

            async def send_and_sample() -> int:
                async def sample() -> None:
                    while True:
                        await asyncio.sleep(1.0)
                        rss.append(rss_mib(collector.pid))

                sampler = asyncio.create_task(sample())
                try:
                    if transport == "http":
                        url = f"http://127.0.0.1:{ports['http']}/v1/logs"
                        return await send_http(url, batches, total_batches, args.concurrency)
                    target = f"127.0.0.1:{ports['grpc']}"
                    return await send_grpc(target, batches, total_batches, args.concurrency)
                finally:
                    sampler.cancel()

            refused = asyncio.run(send_and_sample())
            acknowledged = time.perf_counter() - started
            while metric(metrics_url, "modeltel_exporter_sent_total") < records:
                if time.perf_counter() - started > acknowledged + 120:
                    raise SystemExit("the exporter did not deliver everything within 120 s")
                time.sleep(0.05)
            delivered = time.perf_counter() - started
            cpu = cpu_seconds(collector.pid) - cpu_before
            rss.append(rss_mib(collector.pid))
            dropped = metric(metrics_url, "modeltel_exporter_dropped_total")
        finally:
            collector.terminate()
            collector.wait(30)
            sink.terminate()
            sink.join(10)
    return {
        "transport": transport,
        "records": records,
        "ingest_rps": records / acknowledged,
        "delivered_rps": records / delivered,
        "cpu_per_million": cpu / records * 1e6,
        "cpu_share": cpu / delivered,
        "rss": rss,
        "refused_requests": refused,
        "dropped": dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="modeltel collector ingest throughput on one core")
    parser.add_argument("--records", type=int, default=1_000_000, help="records per transport")
    parser.add_argument("--transport", choices=["http", "grpc", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument(
        "--no-processor",
        action="store_true",
        help="leave out the predictions processor (receive+export only)",
    )
    parser.add_argument("--persistent", action="store_true", help="persistent (SQLite) sending queue")
    parser.add_argument("--distinct-batches", type=int, default=20, help="distinct batches cycled through")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(cpus[1:]) or set(cpus))  # the sender stays off the collector's core
    batches = prediction_batches(args.distinct_batches)
    print(
        f"{BATCH_ROWS} records x {FEATURES} features per batch, {len(batches[0]) / 1024:.0f} KiB; "
        f"collector on CPU {cpus[0]}, sender and Loki sink on {cpus[1:] or cpus[:1]}; "
        f"pipeline otlp -> {'' if args.no_processor else 'predictions -> '}loki "
        f"({'persistent' if args.persistent else 'memory'} queue)"
    )
    transports = ["http", "grpc"] if args.transport == "both" else [args.transport]
    for transport in transports:
        result = run_transport(transport, args, batches, cpus)
        rss = result["rss"]
        print(
            f"OTLP/{transport:<4} {result['records']:>10,} records: "
            f"ingest {result['ingest_rps']:>9,.0f} rec/s, "
            f"end-to-end to Loki {result['delivered_rps']:>9,.0f} rec/s; collector CPU "
            f"{result['cpu_per_million']:.2f} s per 1M records ({1e6 / result['cpu_per_million']:,.0f} rec/s "
            f"per fully used core, core busy {100 * result['cpu_share']:.0f}%)"
        )
        print(
            f"           RSS MiB start {rss[0]:.0f}, max {max(rss):.0f}, end {rss[-1]:.0f}; "
            f"samples {' '.join(f'{v:.0f}' for v in rss[:: max(1, len(rss) // 12)])}; "
            f"refused requests (backpressure) {result['refused_requests']}, dropped {result['dropped']:.0f}"
        )


if __name__ == "__main__":
    main()
