"""Instructions per request through the example server, by thread: a deterministic overhead measure.

Wall-clock throughput on a shared VM moves by tens of percent from minute to minute, and even
CPU time per request by ±15%; the number of machine instructions a request executes does not
(runs repeat to within a fraction of a percent). Each variant runs in a fresh process under
valgrind's callgrind with instrumentation off: uvicorn serves ``examples/iris_server.py`` from
a thread, the main thread warms it up with plain keep-alive requests, then instrumentation is
switched on (``callgrind_control -i on``) for ``--requests`` more and off again, and the
per-thread totals are read from the dump. The client (the main thread) is reported apart.

Under valgrind a request takes 20-50 times longer, so work driven by the clock rather than by
requests (the export thread's periodic wake-ups and HTTP posts, the SDK's idle threads) is
inflated per request: read the event-loop and worker columns for the request path, and the
export thread's CPU from ``bench/overhead.py`` runs instead.

    python bench/instructions.py [--requests 300] [--variants uninstrumented,modeltel-10%,...]

A variant is a name from ``bench/calls.py``'s table, optionally with ``+NAME=VALUE`` settings,
e.g. ``modeltel-10%+MODELTEL_CAPTURE_MODELS=0``. Needs Debian's ``valgrind``.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calls import VARIANTS, serve_example, start_sink

DEFAULT_VARIANTS = "uninstrumented,modeltel-10%,modeltel-100%,modeltel-10%+MODELTEL_CAPTURE_MODELS=0"


def child(requests: int, warmup: int, flag: str) -> None:
    """Runs under valgrind: serve from a thread, warm up, wait for instrumentation, request."""
    import random

    random.seed(0)
    _, _, post = serve_example()
    for _ in range(warmup):
        post()
    time.sleep(1.0)
    Path(flag + ".ready").touch()
    while not Path(flag + ".go").exists():
        time.sleep(0.05)
    for _ in range(requests):
        post()
    time.sleep(0.5)  # the last request's worker-thread work
    Path(flag + ".done").touch()
    time.sleep(3600)  # killed by the parent after the dump


def thread_totals(dump_prefix: str) -> dict[str, int]:
    """Instructions per thread (callgrind numbers threads from 1: 1 is the main thread)."""
    totals: dict[str, int] = {}
    for path in glob.glob(dump_prefix + "*-*"):
        thread = path.rsplit("-", 1)[1]
        for line in Path(path).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                totals[thread] = max(totals.get(thread, 0), int(line.split()[1]))
    return totals


def wait_for(path: Path, process: subprocess.Popen, log: Path, timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            sys.exit(f"the measured process exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"timed out waiting for {path.name}")
        time.sleep(0.2)


def measure(variant: str, requests: int, warmup: int, sink_port: int, work: Path) -> dict[str, int]:
    name, *settings = variant.split("+")
    tag = "".join(c if c.isalnum() else "_" for c in variant)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELTEL_", "OTEL_"))}
    env |= (
        VARIANTS[name]
        | dict(setting.split("=", 1) for setting in settings)
        | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "MODELTEL_MODEL_NAME": "iris-classifier",
            "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0"),  # dict probing: same every run
        }
    )
    flag, dump, log = str(work / tag), str(work / f"{tag}.callgrind"), work / f"{tag}.log"
    args = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
            f"--callgrind-out-file={dump}", sys.executable, __file__, "--child",
            "--requests", str(requests), "--warmup", str(warmup), "--flag", flag]  # fmt: skip
    process = subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_for(Path(flag + ".ready"), process, log)
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], capture_output=True, check=True)
        Path(flag + ".go").touch()
        wait_for(Path(flag + ".done"), process, log)
        subprocess.run(["callgrind_control", "-i", "off", str(process.pid)], capture_output=True, check=True)
        subprocess.run(["callgrind_control", "-d", str(process.pid)], capture_output=True, check=True)
        time.sleep(1.0)
    finally:
        process.kill()
        process.wait()
    return thread_totals(dump)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flag", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.warmup, args.flag)
        return
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (Debian package valgrind)")
    sink, sink_port = start_sink()
    n = args.requests
    print(f"instructions per request ({n} requests after {args.warmup} warm-up), millions, by thread")
    print(f"{'variant':>44} {'request path':>12} {'added':>7} {'loop':>6} {'worker':>7} {'other':>6} "
          f"{'client':>6}")  # fmt: skip
    base = None
    try:
        with tempfile.TemporaryDirectory(prefix="modeltel-instructions-") as tmp:
            for variant in args.variants.split(","):
                totals = thread_totals_by_role(measure(variant, n, args.warmup, sink_port, Path(tmp)))
                path = totals["loop"] + totals["worker"]
                base = path if base is None else base
                per = {role: count / n / 1e6 for role, count in totals.items()}
                print(f"{variant:>44} {path / n / 1e6:12.3f} {(path / base - 1) * 100:+6.1f}% "
                      f"{per['loop']:6.3f} {per['worker']:7.3f} {per['other']:6.3f} {per['client']:6.3f}",
                      flush=True)  # fmt: skip
    finally:
        sink.shutdown()
    print(
        "request path: the event loop and the AnyIO worker that runs the endpoint; other: the "
        "agent's export thread and idle SDK threads (clock-driven: inflated under valgrind); "
        "added: relative to the first variant's request path"
    )


def thread_totals_by_role(totals: dict[str, int]) -> dict[str, int]:
    """Thread 1 is the client, thread 2 the event loop (started first); of the rest the busiest
    is the worker that ran the endpoint, and whatever else ran is 'other'."""
    ordered = sorted(totals.items(), key=lambda item: int(item[0]))
    client, loop = ordered[0][1], ordered[1][1]
    rest = sorted((count for _, count in ordered[2:]), reverse=True)
    return {"client": client, "loop": loop, "worker": rest[0] if rest else 0, "other": sum(rest[1:])}


if __name__ == "__main__":
    main()
