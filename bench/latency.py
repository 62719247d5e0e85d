"""Added latency at a fixed request rate: an open-loop load generator against the example server.

``bench/overhead.py`` drives the server flat out with wrk's closed loop (each connection sends
its next request when the last one returns), which is right for throughput but ties latency to
it: a server that serves 10% fewer requests shows ~10% more latency at every percentile, and a
round in which the VM steals time shows it everywhere. Here requests are sent on a fixed
schedule (``--rate`` per second, below the server's capacity) whatever the responses do, and
each latency is measured from the request's scheduled time, so a stall counts for every request
it delays (no coordinated omission). What is left between variants is the time the agent adds
to a request, and its tail.

Variants are those of ``bench/overhead.py`` (fresh single-worker uvicorn, pinned to CPU 0,
exporting to a modeltel collector), interleaved over rounds in alternating order; this process
generates the load from CPU 1. The table gives per variant the median over rounds of p50, p99
and p99.9, and of the p99 added to the same round's uninstrumented run.

    python bench/latency.py [--rate 500] [--seconds 10] [--rounds 5] [--connections 32]
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import BODY, LOAD_CPU, served, start_collector

DEFAULT_VARIANTS = "uninstrumented,modeltel-100%,modeltel-10%"
REQUEST = (
    "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(BODY)}\r\n\r\n{BODY}"
).encode()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected response: {head[:80]!r}")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)


async def open_loop(port: int, rate: float, seconds: float, connections: int) -> tuple[np.ndarray, int]:
    """Latencies (s) of requests sent every 1/rate s, from their scheduled send times; and how
    many requests were still waiting for a free connection at their scheduled time."""
    pool: asyncio.Queue = asyncio.Queue()
    opened = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    for connection in opened:
        pool.put_nowait(connection)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    late = 0

    async def one(scheduled: float) -> None:
        connection = await pool.get()
        try:
            await _exchange(*connection)
            latencies.append(loop.time() - scheduled)
        finally:
            pool.put_nowait(connection)

    tasks = []
    start = loop.time() + 0.05
    for index in range(int(rate * seconds)):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if pool.empty():
            late += 1
        tasks.append(asyncio.ensure_future(one(scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in opened:
        writer.close()
    return np.asarray(latencies), late


def measure(name: str, collector: str, args: argparse.Namespace, work: Path) -> dict[str, float]:
    with served(name, collector, work) as (_, port):
        asyncio.run(open_loop(port, args.rate, 2.0, args.connections))  # warm-up
        latencies, late = asyncio.run(open_loop(port, args.rate, args.seconds, args.connections))
    p50, p99, p999 = np.percentile(latencies, [50, 99, 99.9]) * 1e3
    return {"p50": p50, "p99": p99, "p999": p999, "late": late, "requests": len(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # the load, like wrk in bench/overhead.py
    variants = args.variants.split(",")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="modeltel-latency-") as tmp:
        work = Path(tmp)
        collector, endpoint = start_collector(work)
        try:
            for round_number in range(args.rounds):
                order = variants if round_number % 2 == 0 else variants[::-1]
                for name in order:
                    result = measure(name, endpoint, args, work)
                    results[name].append(result)
                    print(
                        f"round {round_number + 1} {name:>32}: p50 {result['p50']:6.2f} ms  "
                        f"p99 {result['p99']:6.2f} ms  p99.9 {result['p999']:6.2f} ms  "
                        f"late {result['late']:.0f} of {result['requests']:.0f}  "
                        f"load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
        finally:
            collector.terminate()
            collector.wait(20)
    report(results, args)


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    base = results.get("uninstrumented")
    print(f"\nopen loop at {args.rate:.0f} req/s, {args.seconds:.0f} s x {args.rounds} rounds; "
          f"medians over rounds (range)")  # fmt: skip
    print(f"{'variant':>32} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>9} {'added p99 ms':>20}")
    for name, runs in results.items():
        median = {key: statistics.median(run[key] for run in runs) for key in ("p50", "p99", "p999")}
        added = ""
        if base and name != "uninstrumented":
            deltas = [run["p99"] - ref["p99"] for run, ref in zip(runs, base, strict=True)]
            added = f"{statistics.median(deltas):+.2f} ({min(deltas):+.2f} to {max(deltas):+.2f})"
        print(f"{name:>32} {median['p50']:7.2f} {median['p99']:7.2f} {median['p999']:9.2f} {added:>20}")
    print(
        "latency from each request's scheduled send time; added p99: this variant's p99 minus the "
        "same round's uninstrumented p99"
    )


if __name__ == "__main__":
    main()
