"""``prometheusremotewrite`` exporter: the prometheus exporter's series, pushed.

Every ``interval_seconds`` the current translated series (the same OTel → Prometheus
translation as the ``prometheus`` exporter, idle series expiring alike) are POSTed to
``endpoint`` as a remote-write 1.0 ``WriteRequest``: protobuf, snappy block format, with the
headers the specification requires. Samples carry the time of sending; exemplars their own.
Resource ``job``/``instance`` labels are sent as they are, with no scrape to rename them.
A series that expires is sent once more with Prometheus's staleness marker, so it ends at
once, as a scraped series that vanishes does.

A 5xx or 429 answer, or no answer, is retried with doubling backoff (``Retry-After`` wins)
until ``max_retry_seconds``; a request still failing then, or answered with another 4xx,
is dropped and counted, and the next interval sends the then current state. The backoff is
self-contained; it should move onto the collector's shared exporter retry machinery.
"""

import asyncio
import contextlib
import logging
import random
import struct
import time
import weakref

import aiohttp
import cramjam
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client import CollectorRegistry, Counter
from pydantic import Field

from modeltel.collector.component import Factory, Host
from modeltel.collector.signals import Signal
from modeltel.exporters import remote_write_proto as prompb
from modeltel.exporters.prometheus import PrometheusConfig, Series, SeriesStore, untranslated_counter
from modeltel.exporters.retry import parse_retry_after

_log = logging.getLogger("modeltel.collector")

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "modeltel-collector",
}
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
"""Prometheus's staleness marker: a NaN with this exact bit pattern ends a series."""
RETRYABLE = frozenset({429}) | frozenset(range(500, 600))
_METRIC_TYPES = {
    "counter": prompb.MetricMetadata.COUNTER,
    "gauge": prompb.MetricMetadata.GAUGE,
    "histogram": prompb.MetricMetadata.HISTOGRAM,
}
_REQUESTS: "weakref.WeakKeyDictionary[CollectorRegistry, Counter]" = weakref.WeakKeyDictionary()


class RemoteWriteConfig(PrometheusConfig):
    endpoint: str = Field(pattern=r"^https?://")
    interval_seconds: float = Field(default=15.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_retry_seconds: float = Field(default=60.0, ge=0)
    headers: dict[str, str] = {}


def requests_counter(registry: CollectorRegistry) -> Counter:
    counter = _REQUESTS.get(registry)
    if counter is None:
        counter = _REQUESTS[registry] = Counter(
            "modeltel_remote_write_requests",
            "Remote-write requests by exporter and outcome (sent, retried, dropped).",
            ["exporter", "outcome"],
            registry=registry,
        )
    return counter


def write_request(series: list[Series], timestamp_ms: int, expired: list[Series] = ()) -> prompb.WriteRequest:
    """One time series per sample, labels sorted by name as remote write requires.

    ``expired`` series get Prometheus's staleness marker, so they end now rather than linger
    for the five-minute lookback, as a scraped series that vanishes does.
    """
    request = prompb.WriteRequest()
    families: dict[str, Series] = {}
    for one, stale in [*((s, False) for s in series), *((s, True) for s in expired)]:
        families.setdefault(one.family, one)
        for suffix, extra, value, exemplar in one.samples:
            labels = {**one.labels, **extra, "__name__": one.family + suffix}
            timeseries = request.timeseries.add()
            timeseries.labels.extend(prompb.Label(name=k, value=v) for k, v in sorted(labels.items()) if v)
            timeseries.samples.add(value=STALE_NAN if stale else value, timestamp=timestamp_ms)
            if exemplar is not None and not stale:
                timeseries.exemplars.add(
                    labels=[prompb.Label(name=k, value=v) for k, v in sorted(exemplar.labels.items())],
                    value=exemplar.value,
                    timestamp=round(float(exemplar.timestamp) * 1000) if exemplar.timestamp else timestamp_ms,
                )
    for family, one in families.items():
        request.metadata.add(type=_METRIC_TYPES[one.kind], metric_family_name=family, help=one.help)
    return request


class RemoteWriteExporter:
    def __init__(self, component_id: str, config: RemoteWriteConfig) -> None:
        self._id = component_id
        self._config = config
        self._series = SeriesStore(config, self._count_drop)
        self._host: Host | None = None
        self._dropped: Counter | None = None
        self._requests: Counter | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None

    def _count_drop(self, reason: str, points: int) -> None:
        if self._dropped is not None:
            self._dropped.labels(self._id, reason).inc(points)

    async def start(self, host: Host) -> None:
        self._host = host
        self._dropped = untranslated_counter(host.registry)
        self._requests = requests_counter(host.registry)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._config.timeout_seconds)
        )
        self._task = asyncio.create_task(self._run(), name=f"{self._id} push loop")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                await self._post_once(self._payload())  # the last state, once, without retries
            await self._session.close()

    async def consume(self, signal: Signal, batch: ExportMetricsServiceRequest) -> None:
        translated = self._series.add(batch)
        if self._host is not None:
            self._host.metrics.exporter_sent.labels(self._id, signal.value).inc(translated)

    def _payload(self) -> bytes | None:
        series, expired = self._series.current_and_expired()
        if not series and not expired:
            return None
        request = write_request(series, time.time_ns() // 1_000_000, expired)
        return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._config.interval_seconds)
            payload = self._payload()
            if payload is not None:
                await self._push(payload)

    async def _post_once(self, payload: bytes | None) -> tuple[int, str | None]:
        assert self._session is not None
        if payload is None:
            return 200, None
        headers = {**HEADERS, **self._config.headers}
        async with self._session.post(self._config.endpoint, data=payload, headers=headers) as response:
            text = (await response.read()).decode(errors="replace").strip()[:200]
            if response.status >= 300:
                _log.debug("%s: HTTP %s %s", self._id, response.status, text)
            return response.status, response.headers.get("Retry-After")

    async def _push(self, payload: bytes) -> None:
        assert self._requests is not None
        deadline = time.monotonic() + self._config.max_retry_seconds
        backoff = 0.5
        while True:
            try:
                status, retry_after = await self._post_once(payload)
                problem = f"HTTP {status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status, retry_after, problem = 0, None, f"{type(error).__name__}: {error}"
            if 200 <= status < 300:
                self._requests.labels(self._id, "sent").inc()
                return
            if status and status not in RETRYABLE:
                break
            wait = parse_retry_after(retry_after)
            if wait is None:
                wait = backoff * random.uniform(0.5, 1.0)
                backoff = min(backoff * 2, 30.0)
            if time.monotonic() + wait > deadline:
                break
            self._requests.labels(self._id, "retried").inc()
            await asyncio.sleep(wait)
        self._requests.labels(self._id, "dropped").inc()
        _log.warning("%s: remote write to %s dropped: %s", self._id, self._config.endpoint, problem)


FACTORY = Factory(
    kind="exporter",
    type="prometheusremotewrite",
    config=RemoteWriteConfig,
    signals=frozenset({Signal.METRICS}),
    create=RemoteWriteExporter,
)
