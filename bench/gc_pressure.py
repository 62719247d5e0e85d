"""The garbage collector's young-generation count the agent adds per request (deterministic).

A full collection of a served model's heap stops every thread for tens of milliseconds here
(60-160 ms seen with the example server on this VM), and the young and middle collections
that lead to it for 0.1-3 ms each. Their rate follows the young generation's count: +1 per
GC-tracked object (tuple, list, dict) allocated, -1 per one freed; past 700 a young
collection runs, every 10th of those a middle one, and every 10th of those may be a full
one. An object the agent queues per request (a measurement's tuple, a record's) stays alive
until the export thread takes it, up to a second later, so under load, or while the export
thread is held up by a slow collector, it keeps the count up and brings collections sooner.

Each variant runs in a fresh process serving ``examples/iris_server.py`` from a thread
(``bench/calls.py``), exporting to a sink that accepts everything, with the export thread held
off (a schedule delay of an hour: nothing leaves the queues). After a warm-up, collection is
switched off, ``--requests`` requests are sent from the main thread, and the count's growth
per request is printed with what it adds to the uninstrumented server's. Collection counts
under real load depend on the VM's speed and the load's concurrency; this count does not.

    python bench/gc_pressure.py [--requests 1000] [--variants uninstrumented,modeltel-10%,...]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calls import VARIANTS, serve_example, start_sink

HELD_OFF = {  # nothing leaves the queues while the requests are counted
    "OTEL_BSP_SCHEDULE_DELAY": "3600000",
    "OTEL_BLRP_SCHEDULE_DELAY": "3600000",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1000000",
    "OTEL_BSP_MAX_QUEUE_SIZE": "1000000",
    "OTEL_BLRP_MAX_QUEUE_SIZE": "1000000",
}
MAX_REQUESTS = 4000  # below the metrics' fold threshold (4096 waiting measurements per instrument)


def child(requests: int, warmup: int) -> None:
    """Runs in the measured process: serve, warm up, count, print JSON."""
    import gc
    import random

    random.seed(0)
    server, thread, post = serve_example()
    for _ in range(warmup):
        post()
    time.sleep(0.5)
    gc.collect()
    gc.disable()
    before = gc.get_count()[0]
    for _ in range(requests):
        post()
    time.sleep(0.2)  # the last request's worker-thread work
    count = gc.get_count()[0] - before
    gc.enable()
    server.should_exit = True
    thread.join(10)
    print(json.dumps({"per_request": count / requests}))


def measure(variant: str, requests: int, warmup: int, sink_port: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELTEL_", "OTEL_"))}
    env |= (
        VARIANTS[variant]
        | HELD_OFF
        | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "MODELTEL_MODEL_NAME": "iris-classifier",
        }
    )
    args = [sys.executable, __file__, "--child", "--requests", str(requests), "--warmup", str(warmup)]
    output = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])["per_request"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.warmup)
        return
    requests = min(args.requests, MAX_REQUESTS)
    variants = args.variants.split(",")
    sink, sink_port = start_sink()
    try:
        counts = {variant: measure(variant, requests, args.warmup, sink_port) for variant in variants}
    finally:
        sink.shutdown()
    print(f"young-generation count added per request, export held off ({requests} requests)")
    print(f"{'variant':>15} {'count':>7} {'added':>7}")
    for variant, count in counts.items():
        print(f"{variant:>15} {count:7.2f} {count - counts[variants[0]]:+7.2f}")
    print(f"added: against {variants[0]}; a young collection runs each time the count passes 700")


if __name__ == "__main__":
    main()
