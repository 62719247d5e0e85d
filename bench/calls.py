"""Python-level calls per request through the example server: a load-independent overhead measure.

On a shared machine wall-clock throughput moves by tens of percent from minute to minute;
the number of Python function calls a request makes does not. Each variant runs in a fresh
process: uvicorn serves ``examples/iris_server.py`` from a thread, a profile hook
(``threading.setprofile``) counts ``call`` events (Python functions) and ``c_call`` events
(builtins) in every server-side thread, by thread kind (event loop, AnyIO worker, the
agent's export thread), and the main thread sends the requests without being counted.
The random generator is seeded, so the 10% variant samples the same requests every run.

    python bench/calls.py [--requests 2000] [--top 25]
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BODY = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
VARIANTS = {
    "uninstrumented": {},
    "modeltel-10%": {"MODELTEL_ENABLED": "1", "MODELTEL_SAMPLE_RATE": "0.1"},
    "modeltel-100%": {"MODELTEL_ENABLED": "1", "MODELTEL_SAMPLE_RATE": "1"},
}


def _thread_kind(name: str) -> str:
    if name.startswith("AnyIO worker"):
        return "worker"
    if name.startswith("modeltel"):
        return "export"
    return "loop" if name == "server" else "other"


def serve_example() -> tuple[Any, Any, Callable[[], None]]:
    """uvicorn serving ``examples/iris_server.py`` from a thread named ``server`` on a free
    port, started (profile hooks set before this call apply to its threads), and a function
    that sends it one keep-alive prediction request, raising unless it answers 200."""
    import http.client
    import socket
    import threading
    import time

    sys.path.insert(0, str(REPO / "examples"))
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config("iris_server:app", host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="server", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    connection = http.client.HTTPConnection("127.0.0.1", port)

    def post() -> None:
        connection.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")

    return server, thread, post


def child(requests: int, warmup: int) -> None:
    """Runs in the measured process: serve, count, request, print JSON."""
    import collections
    import random
    import threading
    import time

    random.seed(0)
    calls: collections.Counter = collections.Counter()
    builtins: collections.Counter = collections.Counter()
    functions: collections.Counter = collections.Counter()
    counting = threading.Event()

    def profile(frame, event, arg):
        if not counting.is_set():
            return
        kind = _thread_kind(threading.current_thread().name)
        if event == "call":
            calls[kind] += 1
            code = frame.f_code
            functions[f"{Path(code.co_filename).name}:{code.co_name}"] += 1
        elif event == "c_call":
            builtins[kind] += 1

    threading.setprofile(profile)
    server, thread, post = serve_example()
    for _ in range(warmup):
        post()
    time.sleep(0.5)
    counting.set()
    for _ in range(requests):
        post()
    time.sleep(0.2)  # let the last request's thread work finish
    counting.clear()
    server.should_exit = True
    thread.join(10)
    print(json.dumps({"calls": calls, "builtins": builtins, "functions": functions.most_common(400)}))


def start_sink() -> tuple[Any, int]:
    """An OTLP/HTTP endpoint that accepts everything, in the parent process: exports succeed
    and queues drain as with a collector, and its work is not counted."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def measure(variant: str, requests: int, warmup: int, sink_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELTEL_", "OTEL_"))}
    env |= VARIANTS[variant] | {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
        "MODELTEL_MODEL_NAME": "iris-classifier",
    }
    args = [sys.executable, __file__, "--child", "--requests", str(requests), "--warmup", str(warmup)]
    output = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--top", type=int, default=0, help="print the functions each variant adds most")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.warmup)
        return
    sink, sink_port = start_sink()
    try:
        results = {variant: measure(variant, args.requests, args.warmup, sink_port) for variant in VARIANTS}
    finally:
        sink.shutdown()
    n = args.requests
    print(f"Python-level calls per request ({n} requests, seeded), by thread; builtins in brackets")
    print(
        f"{'variant':>15} {'total':>7} {'added':>6} {'loop':>6} {'worker':>7} {'export':>7} "
        f"{'[builtins]':>11}"
    )
    base = sum(results["uninstrumented"]["calls"].values()) / n
    for variant, result in results.items():
        calls, builtins = result["calls"], result["builtins"]
        total = sum(calls.values()) / n
        print(
            f"{variant:>15} {total:7.0f} {total - base:6.0f} {calls.get('loop', 0) / n:6.0f} "
            f"{calls.get('worker', 0) / n:7.0f} {calls.get('export', 0) / n:7.1f} "
            f"{sum(builtins.values()) / n:11.0f}"
        )
    if args.top:
        baseline = dict(results["uninstrumented"]["functions"])
        for variant in list(VARIANTS)[1:]:
            added = {f: c - baseline.get(f, 0) for f, c in results[variant]["functions"]}
            print(f"\n{variant}: functions with the most added calls per request")
            for function, count in sorted(added.items(), key=lambda item: -item[1])[: args.top]:
                print(f"  {count / n:7.2f}  {function}")


if __name__ == "__main__":
    main()
