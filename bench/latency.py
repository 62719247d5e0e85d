"""Added latency at a fixed request rate: an open-loop load generator against the example server.

``bench/overhead.py`` drives the server flat out with wrk's closed loop (each connection sends
its next request when the last one returns), which is right for throughput but ties latency to
it: a server that serves 10% fewer requests shows ~10% more latency at every percentile. Here
requests are sent on a fixed schedule (``--rate`` per second, below the server's capacity)
whatever the responses do, and each latency is measured from the request's scheduled time, so a
stall counts for every request it delays (no coordinated omission). What is left between
variants is the time the agent adds to a request, and its tail.

On a shared VM the tail of the same uninstrumented server moves by several milliseconds from
one ten-second run to the next, more than the effect measured. So every variant's server (those
of ``bench/overhead.py``: single-worker uvicorn, pinned to CPU 0, exporting to a modeltel
collector) is started once and all are kept running side by side, stopped (SIGSTOP) except the
one under load; the load moves from variant to variant in short slices (``--slice`` seconds,
in alternating order) for ``--seconds`` per variant in all. A slow minute of the VM then falls
on every variant alike. Per variant the table gives the p50, p99 and p99.9 of all its requests
and the p99 added to the uninstrumented server's; then the median over slices of each slice's
p99 and what the variant adds to it, which the VM's rarer stalls move less; with 90% intervals
from resampling slices.

The load comes from this process on CPU 1. The collector runs on the same CPU at the idle
scheduling class (``chrt --idle``), so the batches the agent sends are processed in time the
load generator leaves free instead of delaying its timestamps (which would be counted as
latency of the variants that export the most). ``--baseline-code DIR`` works as in
``bench/overhead.py``.

    python bench/latency.py [--rate 500] [--seconds 60] [--slice 2] [--connections 32]
                            [--variants ...] [--baseline-code DIR]
"""

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead
from overhead import BASELINE, BODY, LOAD_CPU, served, start_collector

DEFAULT_VARIANTS = "uninstrumented,modeltel-100%,modeltel-10%"
REQUEST = (
    "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(BODY)}\r\n\r\n{BODY}"
).encode()
WARM_UP_S = 2.0
RESAMPLES = 2000

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


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


async def open_loop(connections: list[Connection], rate: float, seconds: float) -> tuple[np.ndarray, int]:
    """Latencies (s) of requests sent every 1/rate s, from their scheduled send times; and how
    many requests were still waiting for a free connection at their scheduled time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
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
    start = loop.time() + 0.005
    for index in range(int(rate * seconds)):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if pool.empty():
            late += 1
        tasks.append(asyncio.ensure_future(one(scheduled)))
    await asyncio.gather(*tasks)
    return np.asarray(latencies), late


async def interleaved(
    ports: dict[str, int], pids: dict[str, int], args: argparse.Namespace
) -> dict[str, list[np.ndarray]]:
    """Per variant, the latencies of each of its slices; only the loaded server runs."""
    connections = {
        name: [await asyncio.open_connection("127.0.0.1", port) for _ in range(args.connections)]
        for name, port in ports.items()
    }
    names = list(ports)
    slices: dict[str, list[np.ndarray]] = {name: [] for name in names}
    late = dict.fromkeys(names, 0)
    try:
        for name in names:  # warm-up, not counted
            os.kill(pids[name], signal.SIGCONT)
            await open_loop(connections[name], args.rate, WARM_UP_S)
            os.kill(pids[name], signal.SIGSTOP)
        for number in range(max(1, round(args.seconds / args.slice))):
            for name in names if number % 2 == 0 else names[::-1]:
                os.kill(pids[name], signal.SIGCONT)
                try:
                    latencies, slice_late = await open_loop(connections[name], args.rate, args.slice)
                finally:
                    os.kill(pids[name], signal.SIGSTOP)
                slices[name].append(latencies)
                late[name] += slice_late
    finally:
        for name in names:
            os.kill(pids[name], signal.SIGCONT)
            for _, writer in connections[name]:
                writer.close()
    for name, count in late.items():
        if count:
            print(f"{name}: {count} requests waited for a free connection (raise --connections)")
    return slices


def pooled_p99(parts: list[np.ndarray]) -> float:
    """The p99 (ms) of all the requests of these slices."""
    return float(np.percentile(np.concatenate(parts), 99)) * 1e3


def typical_p99(parts: list[np.ndarray]) -> float:
    """The median over slices of each slice's p99 (ms): what a stall of the VM that hits one
    slice in five does not move. It discounts a stall the agent itself caused in as few
    slices, too, which the pooled p99 counts: the table gives both."""
    return float(np.median([np.percentile(part, 99) for part in parts])) * 1e3


def added(
    statistic: Callable[[list[np.ndarray]], float],
    variant: list[np.ndarray],
    base: list[np.ndarray],
    seed: int = 0,
) -> tuple[float, float, float]:
    """``statistic`` of the variant minus that of the uninstrumented server, and a 90%
    interval from resampling whole slices of each (the unit over which the VM's slowdowns
    come and go)."""
    rng = np.random.default_rng(seed)

    def resampled(parts: list[np.ndarray]) -> float:
        return statistic([parts[i] for i in rng.integers(0, len(parts), len(parts))])

    draws = [resampled(variant) - resampled(base) for _ in range(RESAMPLES)]
    low, high = np.percentile(draws, [5, 95])
    return statistic(variant) - statistic(base), float(low), float(high)


def report(slices: dict[str, list[np.ndarray]], args: argparse.Namespace) -> None:
    base = slices.get("uninstrumented")
    print(
        f"\nopen loop at {args.rate:.0f} req/s, {args.seconds:.0f} s per variant in "
        f"{args.slice:g} s slices, variants interleaved"
    )
    print(
        f"{'variant':>32} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>9} {'added p99 ms':>24} "
        f"{'slice p99 ms':>13} {'added slice p99 ms':>24}"
    )
    for name, parts in slices.items():
        p50, p99, p999 = np.percentile(np.concatenate(parts), [50, 99, 99.9]) * 1e3
        extra = ["", ""]
        if base and name != "uninstrumented":
            for index, statistic in enumerate((pooled_p99, typical_p99)):
                point, low, high = added(statistic, parts, base)
                extra[index] = f"{point:+.2f} ({low:+.2f} to {high:+.2f})"
        print(
            f"{name:>32} {p50:7.2f} {p99:7.2f} {p999:9.2f} {extra[0]:>24} "
            f"{typical_p99(parts):13.2f} {extra[1]:>24}"
        )
    print(
        "latency from each request's scheduled send time. added p99: this variant's p99 minus the "
        "uninstrumented server's over the same stretch of time; slice p99: the median over slices "
        "of each slice's p99; intervals: 90%, from resampling slices"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="of load per variant")
    parser.add_argument("--slice", type=float, default=2.0, help="seconds of load at a time")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated")
    parser.add_argument(
        "--baseline-code",
        help="a directory holding another build of modeltel (as in bench/overhead.py): every "
        "modeltel variant also runs served by it, as NAME@baseline, in the same slices",
    )
    parser.add_argument("--save", type=Path, help="write every slice's latencies (s) to this .npz")
    args = parser.parse_args()
    overhead.baseline_code = args.baseline_code
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # the load, like wrk in bench/overhead.py
    variants = args.variants.split(",")
    if args.baseline_code:
        variants += [f"{name}{BASELINE}" for name in variants if name.startswith("modeltel")]
    with tempfile.TemporaryDirectory(prefix="modeltel-latency-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        collector, endpoint = start_collector(work, idle=True)
        stack.callback(lambda: (collector.terminate(), collector.wait(20)))
        ports, pids = {}, {}
        for name in variants:
            server, ports[name] = stack.enter_context(served(name, endpoint, work))
            pids[name] = server.pid
            os.kill(server.pid, signal.SIGSTOP)
            stack.callback(os.kill, server.pid, signal.SIGCONT)  # before it is stopped for good
        slices = asyncio.run(interleaved(ports, pids, args))
    if args.save:
        np.savez(args.save, **{f"{name}/{number}": part for name, parts in slices.items()
                               for number, part in enumerate(parts)})  # fmt: skip
    report(slices, args)


if __name__ == "__main__":
    main()
