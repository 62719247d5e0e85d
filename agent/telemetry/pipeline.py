"""The process's agent pipeline: bounded queues, one export thread, metrics, fork reset.

Built on first use in the process that serves and rebuilt after ``fork``: a child never
re-sends what its parent queued, and gets its own ``service.instance.id``, so gunicorn
workers forked from a master that already recorded something (``--preload`` with a warm-up
prediction) neither duplicate nor share series.
"""

import atexit
import logging
import os
import random
import sys
import threading
import time
from typing import Any

from modeltel import __version__
from modeltel.agent.telemetry.encoding import (
    LOG_WIDTH,
    LogFields,
    Origin,
    encode_log_fields,
    encode_metrics,
    frame_spans,
)
from modeltel.agent.telemetry.instruments import Instruments, create_instruments
from modeltel.agent.telemetry.queue import BoundedQueue, FieldQueue
from modeltel.agent.telemetry.settings import Signal, queue_settings, signal_export
from modeltel.agent.telemetry.spans import SpanRecord, trace_sampling_bound
from modeltel.agent.telemetry.transport import Transport, open_transport

_log = logging.getLogger("modeltel.agent")

SCOPE = "modeltel.agent"
MAX_RETRY_ELAPSED_S = 30.0
MAX_BACKOFF_S = 8.0
SHUTDOWN_FLUSH_S = 5.0


class Pipeline:
    def __init__(
        self,
        resource_attributes: dict[str, Any],
        trace_sample_rate: float,
        prediction_sample_rate: float | None = None,
    ) -> None:
        settings = queue_settings()
        self.settings = settings
        self._max_batch = settings.max_batch
        self.exports = {signal: signal_export(signal) for signal in ("traces", "metrics", "logs")}
        self.origin = Origin.create(resource_attributes, SCOPE, __version__)
        # Spans wait encoded (bytes), records field by field (queue.FieldQueue): nothing waiting
        # is an object the garbage collector tracks.
        self.spans: BoundedQueue[bytes] = BoundedQueue(settings.max_spans)
        self._span_field = self.origin.span_writer.span_field
        self.logs = FieldQueue(settings.max_logs, LOG_WIDTH)
        self.trace_bound = trace_sampling_bound(trace_sample_rate) if self.exports["traces"].enabled else 0
        self.logs_enabled = self.exports["logs"].enabled
        # Traces the agent starts here are sampled at the prediction rate: prediction ids can
        # then be drawn to share their request's decision (modeltel.agent.sampling).
        self.traces_follow_predictions = prediction_sample_rate is not None and self.trace_bound == (
            trace_sampling_bound(prediction_sample_rate)
        )
        self._export_failed: dict[Signal, int] = {"traces": 0, "logs": 0, "metrics": 0}
        self.instruments: Instruments = create_instruments(self.dropped)
        self._transports: dict[Signal, Transport] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._unhealthy: set[Signal] = set()

    # -- producers (request path) --------------------------------------------------------

    def put_span(self, record: SpanRecord) -> None:
        try:
            encoded = self._span_field(record)
        except Exception:  # a bug, never the host's problem: the span is counted as lost
            self._export_failed["traces"] += 1
            _log.debug("modeltel could not encode a span", exc_info=True)
            return
        if self.spans.put(encoded) >= self._max_batch and not self._wake.is_set():
            self._wake.set()
        if self._thread is None:
            self._ensure_thread()

    def put_log(self, record: LogFields) -> None:
        if self.logs.put(record) >= self._max_batch and not self._wake.is_set():
            self._wake.set()
        if self._thread is None:
            self._ensure_thread()

    def put_logs(self, fields: list[Any]) -> None:
        """A batch's records at once, their fields one record after another, not as tuples
        (see queue.FieldQueue): one bound check, one wake-up check."""
        if self.logs.put_many(fields) >= self._max_batch and not self._wake.is_set():
            self._wake.set()
        if self._thread is None:
            self._ensure_thread()

    def dropped(self) -> dict[tuple[str, str], int]:
        return {
            ("traces", "queue_full"): self.spans.dropped,
            ("logs", "queue_full"): self.logs.dropped,
            ("traces", "export_failed"): self._export_failed["traces"],
            ("logs", "export_failed"): self._export_failed["logs"],
            ("metrics", "export_failed"): self._export_failed["metrics"],
        }

    # -- export thread ----------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="modeltel-export", daemon=True)
                self._thread.start()

    def start(self) -> None:
        """Start exporting now (metrics are due even before the first span or record)."""
        self._ensure_thread()

    def _run(self) -> None:
        """Send full batches as they fill (a producer wakes the thread), and everything queued
        once per schedule delay, as the SDK's batch processors do."""
        _lower_thread_priority()
        delay = self.settings.schedule_delay_s
        next_flush = time.monotonic() + delay
        next_metrics = time.monotonic() + self.settings.metric_interval_s
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            try:
                for instrument in self.instruments.recorded():
                    instrument.fold()
                    time.sleep(0)  # between steps, let a request waiting for the GIL run
                flush = time.monotonic() >= next_flush
                self._export_pending(partial=flush)
                if flush:
                    next_flush = time.monotonic() + delay
                if time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + self.settings.metric_interval_s
                    self._export_metrics()
            except Exception:  # never let the thread die: the host would silently stop reporting
                _log.exception("modeltel export failed unexpectedly")

    def _export_pending(self, deadline: float | None = None, partial: bool = True) -> None:
        """What is queued now, in batches; with ``partial`` false only whole batches. What
        arrives meanwhile waits for a batch to fill or for the next flush: sending until the
        queue was empty, as before, made dozens of tiny requests a second under steady load
        (a record arrives during every send), each ~375 µs of CPU in http.client."""
        max_batch = self.settings.max_batch
        queues = ((self.spans, "traces", frame_spans), (self.logs, "logs", encode_log_fields))
        for queue, signal, encode in queues:
            due = len(queue) if partial else len(queue) - len(queue) % max_batch
            while due > 0 and (deadline is None or time.monotonic() < deadline):
                time.sleep(0)  # between steps, let a request waiting for the GIL run
                batch = queue.take(min(max_batch, due))
                if not batch:
                    break
                taken = len(batch) // queue.width
                due -= taken
                payload = encode(batch, self.origin)
                time.sleep(0)  # and between encoding and sending
                if not self._send(signal, payload, deadline):
                    self._export_failed[signal] += taken

    def _export_metrics(self, deadline: float | None = None) -> None:
        if not self.exports["metrics"].enabled:
            return
        now = time.time_ns()
        metrics = [
            metric for metric in (i.to_otlp(now) for i in self.instruments.all()) if metric is not None
        ]
        if metrics and not self._send("metrics", encode_metrics(metrics, self.origin), deadline):
            self._export_failed["metrics"] += 1

    def _transport(self, signal: Signal) -> Transport:
        transport = self._transports.get(signal)
        if transport is None:
            transport = self._transports[signal] = open_transport(self.exports[signal])
        return transport

    def _send(self, signal: Signal, payload: bytes, deadline: float | None) -> bool:
        """Retry transient failures with jittered exponential backoff (or the server's
        Retry-After) for at most MAX_RETRY_ELAPSED_S; the queues meanwhile bound memory."""
        give_up = time.monotonic() + MAX_RETRY_ELAPSED_S
        if deadline is not None:
            give_up = min(give_up, deadline)
        attempt = 0
        while True:
            outcome = self._transport(signal).send(payload)
            if outcome.ok:
                if signal in self._unhealthy:
                    self._unhealthy.discard(signal)
                    _log.info("modeltel %s export to %s recovered", signal, self.exports[signal].url)
                return True
            if signal not in self._unhealthy:
                self._unhealthy.add(signal)
                _log.warning(
                    "modeltel cannot export %s to %s (%s); retrying, and counting what is dropped in "
                    "modeltel_agent_dropped_total. The application is not affected.",
                    signal, self.exports[signal].url, outcome.detail,
                )  # fmt: skip
            delay = outcome.retry_after_s
            if delay is None:
                delay = min(MAX_BACKOFF_S, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)
            attempt += 1
            if not outcome.retryable or time.monotonic() + delay > give_up or self._stop.is_set():
                return False
            self._stop.wait(delay)

    def shutdown(self, timeout_s: float = SHUTDOWN_FLUSH_S) -> None:
        """Send what is queued, bounded in time, then stop the thread."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout_s)
        deadline = time.monotonic() + timeout_s
        try:
            if self._thread is not None:
                self._export_pending(deadline)
                self._export_metrics(deadline)
        except Exception:
            _log.debug("modeltel final flush failed", exc_info=True)
        for transport in self._transports.values():
            transport.close()


# The export thread's nice value (Linux). Not 19: at 19 the scheduler starved it under
# saturation (a quarter of the spans dropped at full load); at 10 none were.
EXPORT_THREAD_NICE = 10


def _lower_thread_priority() -> None:
    """Make the export thread the one that waits when it and the request path both can run.

    Every time the event loop releases the GIL for a system call (each socket read and write
    of a request), the export thread, if it has work, wakes up; at the same priority the
    scheduler often runs it at once, it takes the GIL and the request waits for its whole
    slice of encoding. At a lower priority it mostly runs on time the request path leaves
    idle, and still gets the GIL under full load through the interpreter's switch interval.
    Linux applies nice values per thread, so the host's own threads keep theirs.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, EXPORT_THREAD_NICE))
    except OSError:  # a sandbox without setpriority: the thread keeps the host's priority
        _log.debug("modeltel could not lower its export thread's priority", exc_info=True)


_pipeline: Pipeline | None = None
_pipeline_lock = threading.Lock()


def current() -> Pipeline | None:
    """This process's pipeline, built on first use; None unless the agent is active here."""
    global _pipeline
    pipeline = _pipeline
    if pipeline is not None:
        return pipeline
    from modeltel.agent import runtime

    if not runtime.is_activated():
        return None
    with _pipeline_lock:
        if _pipeline is None:
            _pipeline = _build()
        return _pipeline


def _build() -> Pipeline:
    from modeltel.agent import runtime, settings
    from modeltel.agent.providers import process_resource

    runtime.ensure_providers()  # the SDK's global providers, for spans and logs the application makes
    agent_settings = settings.current()
    pipeline = Pipeline(
        dict(process_resource().attributes), agent_settings.traces_sample_rate, agent_settings.sample_rate
    )
    pipeline.start()
    return pipeline


def _shutdown_at_exit() -> None:
    """Registered once: flushes whichever pipeline this process (not its parent) built."""
    if _pipeline is not None:
        _pipeline.shutdown()


atexit.register(_shutdown_at_exit)


def _after_fork_in_child() -> None:
    """The parent's queue, thread and instance id stay the parent's."""
    global _pipeline, _pipeline_lock
    _pipeline = None
    _pipeline_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
