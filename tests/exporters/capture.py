"""Capture servers: aiohttp on 127.0.0.1 standing in for Loki and OTLP backends.

Each request is checked against the backend's documented format by a validator; a request
that breaks it gets the 400 the real backend would send and its problems are recorded, so
tests assert both what arrived and that nothing malformed did. Responses can be scripted
(429/503 with Retry-After) and the server stopped and restarted on the same port.
"""

import asyncio
import gzip
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.conftest import free_port, wait_until


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes  # after Content-Encoding is undone


Validator = Callable[[Captured], list[str]]
STALL = 0  # a scripted status meaning: answer nothing for headers["seconds"]


@dataclass
class CaptureServer:
    validate: Validator
    port: int = field(default_factory=free_port)
    requests: list[Captured] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        captured = Captured(request.path, dict(request.headers), body)
        if self.script:
            status, headers = self.script.popleft()
            if status == STALL:  # a backend that hangs: the client's timeout must fire
                await asyncio.sleep(float(headers["seconds"]))
                return web.Response(status=504)
            return web.Response(status=status, headers=headers, text="scripted failure")
        problems = self.validate(captured)
        if problems:
            self.problems.extend(problems)
            return web.Response(status=400, text="; ".join(problems))
        self.requests.append(captured)
        return web.Response(status=204)

    def start(self) -> "CaptureServer":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), "capture server did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def wait_for_records(self, count: int, records: Callable[[Captured], int], timeout: float = 30) -> None:
        wait_until(
            lambda: sum(records(r) for r in self.requests) >= count,
            timeout=timeout,
            what=f"{count} records at the capture server (problems: {self.problems})",
        )


_HEX = re.compile(r"^[0-9a-f]+$")
_PUSH_LABELS = {"service_name", "ml_model_name", "level"}


def loki_push_problems(request: Captured) -> list[str]:
    """Loki's push API, JSON form: POST /loki/api/v1/push, {"streams": [{"stream", "values"}]}."""
    if request.path != "/loki/api/v1/push":
        return [f"unknown path {request.path}"]
    if request.headers.get("Content-Type") != "application/json":
        return [f"Content-Type {request.headers.get('Content-Type')!r}"]
    try:
        document = orjson.loads(request.body)
    except orjson.JSONDecodeError as error:
        return [f"invalid JSON: {error}"]
    problems = []
    for stream in document.get("streams", []):
        labels, values = stream.get("stream"), stream.get("values")
        if not isinstance(labels, dict) or not labels or not set(labels) <= _PUSH_LABELS:
            problems.append(f"stream labels {labels!r} are not a subset of {_PUSH_LABELS}")
        if not all(isinstance(v, str) and v for v in (labels or {}).values()):
            problems.append(f"empty or non-string label value in {labels!r}")
        for value in values or [None]:
            if not isinstance(value, list) or len(value) not in (2, 3):
                problems.append(f"entry {value!r} is not [ts, line] or [ts, line, metadata]")
                continue
            if not (isinstance(value[0], str) and value[0].isdigit()) or not isinstance(value[1], str):
                problems.append(f"entry {value[:2]!r}: timestamp must be a string of ns, line a string")
            if len(value) == 3 and not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value[2].items()
            ):
                problems.append(f"structured metadata {value[2]!r} must map strings to strings")
    if not document.get("streams"):
        problems.append("no streams")
    return problems


def push_records(request: Captured) -> int:
    return sum(len(s["values"]) for s in orjson.loads(request.body)["streams"])


def otlp_logs_problems(path: str) -> Validator:
    """OTLP/HTTP protobuf logs at ``path`` (Loki 3: /otlp/v1/logs)."""

    def problems(request: Captured) -> list[str]:
        if request.path != path:
            return [f"unknown path {request.path}"]
        if request.headers.get("Content-Type") != "application/x-protobuf":
            return [f"Content-Type {request.headers.get('Content-Type')!r}"]
        try:
            ExportLogsServiceRequest.FromString(request.body)
        except Exception as error:
            return [f"not an ExportLogsServiceRequest: {error}"]
        return []

    return problems


def otlp_log_records(request: Captured) -> int:
    batch = ExportLogsServiceRequest.FromString(request.body)
    return sum(len(s.log_records) for r in batch.resource_logs for s in r.scope_logs)


def otlp_prediction_ids(request: Captured) -> set[str]:
    batch = ExportLogsServiceRequest.FromString(request.body)
    return {
        attribute.value.string_value
        for r in batch.resource_logs
        for s in r.scope_logs
        for record in s.log_records
        for attribute in record.attributes
        if attribute.key == "modeltel.prediction.id"
    }


def is_hex(value: str, digits: int) -> bool:
    return len(value) == digits and bool(_HEX.match(value))
