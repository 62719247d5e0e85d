"""OTLP/HTTP protobuf posts of log batches, with the OTLP retry rules.

As the OTLP specification says, 429, 502, 503 and 504 are retryable and a ``Retry-After``
header (seconds or an HTTP date) sets the wait; otherwise the wait doubles from 0.5 s up to
16 s, with jitter. A collector whose queues are full answers 503 with ``Retry-After``, so a
replay slows to what the collector takes instead of losing rows. Other statuses reject the
whole batch; a 200 may still reject part of it (``partial_success``).
"""

import asyncio
import gzip
import random
import time
from dataclasses import dataclass

import aiohttp
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from modeltel.exporters.retry import parse_retry_after

RETRYABLE = frozenset({429, 502, 503, 504})
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 16.0


class SendError(RuntimeError):
    """The collector could not take a batch within the retry time."""


@dataclass(frozen=True)
class Outcome:
    """What the collector made of one batch."""

    rejected: int
    message: str = ""
    retries: int = 0


def logs_url(endpoint: str) -> str:
    """``/v1/logs`` appended to a base endpoint, as for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/logs") else f"{endpoint}/v1/logs"


class OtlpLogSender:
    def __init__(self, endpoint: str, *, compression: str = "none", timeout_s: float = 10.0,
                 max_retry_s: float = 300.0) -> None:  # fmt: skip
        self.url = logs_url(endpoint)
        self._gzip = compression == "gzip"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_retry_s = max_retry_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "OtlpLogSender":
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, payload: bytes, records: int) -> Outcome:
        """Post one serialised ``ExportLogsServiceRequest``, retrying as the module docstring says."""
        assert self._session is not None, "use OtlpLogSender as an async context manager"
        headers = {"Content-Type": "application/x-protobuf"}
        if self._gzip:
            payload = gzip.compress(payload, compresslevel=1)  # 3x faster than 6, output ~25% larger
            headers["Content-Encoding"] = "gzip"
        deadline = time.monotonic() + self._max_retry_s
        backoff, retries = INITIAL_BACKOFF_S, 0
        while True:
            try:
                async with self._session.post(self.url, data=payload, headers=headers) as response:
                    body = await response.read()
                    if response.status == 200:
                        return _partial_success(body, retries)
                    if response.status not in RETRYABLE:
                        text = body.decode(errors="replace").strip()[:300]
                        return Outcome(records, f"HTTP {response.status}: {text}", retries)
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                wait, problem = None, f"{type(error).__name__}: {error}"
            if wait is None:
                wait = backoff * random.uniform(0.5, 1.0)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            if time.monotonic() + wait > deadline:
                raise SendError(f"{self.url}: gave up after {retries} retries: {problem}")
            retries += 1
            await asyncio.sleep(wait)


def _partial_success(body: bytes, retries: int) -> Outcome:
    response = ExportLogsServiceResponse()
    try:
        response.ParseFromString(body)
    except DecodeError:
        return Outcome(0, "", retries)  # accepted; an unreadable body cannot say otherwise
    partial = response.partial_success
    return Outcome(partial.rejected_log_records, partial.error_message, retries)
