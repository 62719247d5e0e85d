"""The agent's export pipeline against a real OTLP/HTTP endpoint on 127.0.0.1."""

import gc
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from opentelemetry.trace import SpanKind

from modeltel.agent import settings
from modeltel.agent.model_call import ModelIdentity
from modeltel.agent.prediction_log import emit_label, emit_predictions
from modeltel.agent.telemetry.encoding import LogEvent
from modeltel.agent.telemetry.log_wire import record_attributes
from modeltel.agent.telemetry.pipeline import EXPORT_THREAD_NICE, Pipeline
from modeltel.agent.telemetry.spans import start_child_span, start_span, trace_sampling_bound
from tests.agent.otlp_sink import Sink, running_sink
from tests.conftest import wait_until

RESOURCE = {"service.name": "pipeline-test", "service.instance.id": "i-1"}


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as running:
        yield running


def make_pipeline(monkeypatch: pytest.MonkeyPatch, endpoint: str, **env: str) -> Pipeline:
    for name in (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SDK_DISABLED",
        "OTEL_LOGS_EXPORTER",
        "OTEL_TRACES_EXPORTER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Pipeline(RESOURCE, trace_sample_rate=1.0)


def log_event(index: int) -> LogEvent:
    return LogEvent(
        1_700_000_000_000_000_000 + index, "modeltel.prediction",
        f'{{"features":{{"x":{index}}},"prediction":1}}',
        record_attributes({"ml.model.name": "m"}), "modeltel.prediction.id", f"{index:032x}", 0, 0,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_spans_logs_and_metrics_arrive_as_otlp(monkeypatch: pytest.MonkeyPatch, sink: Sink) -> None:
    pipeline = make_pipeline(monkeypatch, sink.url)
    try:
        parent = start_span(
            "GET /x", None, SpanKind.SERVER, {"http.route": "/x"}, pipeline.put_span, pipeline.trace_bound
        )
        child = start_span(
            "model.predict", parent.get_span_context(), SpanKind.INTERNAL, {}, pipeline.put_span, 0
        )
        child.record_exception(ValueError("bad row"))
        child.end()
        parent.end()
        for index in range(3):
            pipeline.put_log(log_event(index))
        pipeline.instruments.predictions.add(3, (("ml.model.name", "m"),))
        wait_until(lambda: len(sink.spans()) == 2 and len(sink.log_records()) == 3, what="spans and logs")
        wait_until(lambda: sink.messages("/v1/metrics"), what="metrics")
    finally:
        pipeline.shutdown()
    spans = {span.name: span for span in sink.spans()}
    # The child keeps its parent's trace and sampling decision even with a zero ratio of its own.
    assert spans["model.predict"].trace_id == spans["GET /x"].trace_id
    assert spans["model.predict"].parent_span_id == spans["GET /x"].span_id
    assert spans["model.predict"].events[0].name == "exception"
    assert spans["GET /x"].kind == 2  # SERVER
    records = sink.log_records()
    assert [r.event_name for r in records] == ["modeltel.prediction"] * 3
    assert {a.key: a.value.string_value for a in records[0].attributes} == {
        "ml.model.name": "m", "modeltel.prediction.id": f"{0:032x}",
    }  # fmt: skip
    resource = sink.messages("/v1/logs")[0].resource_logs[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes} == RESOURCE
    metric_names = {
        metric.name
        for message in sink.messages("/v1/metrics")
        for rm in message.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert {"modeltel.model.predictions", "modeltel.agent.dropped", "process.cpu.time"} <= metric_names


def test_unsampled_roots_record_nothing_but_still_propagate(
    monkeypatch: pytest.MonkeyPatch, sink: Sink
) -> None:
    pipeline = make_pipeline(monkeypatch, sink.url)
    try:
        span = start_span("GET /x", None, SpanKind.SERVER, {}, pipeline.put_span, trace_sampling_bound(0.0))
        assert not span.is_recording() and span.get_span_context().is_valid
        span.end()
        assert len(pipeline.spans) == 0
    finally:
        pipeline.shutdown()


def test_transient_statuses_are_retried_honouring_retry_after(
    monkeypatch: pytest.MonkeyPatch, sink: Sink
) -> None:
    sink.script = [(503, {"Retry-After": "0.2"}), (429, {"Retry-After": "0.1"})]
    pipeline = make_pipeline(monkeypatch, sink.url)
    try:
        started = time.monotonic()
        pipeline.put_log(log_event(1))
        wait_until(lambda: len(sink.log_records()) == 1, what="the record after two refusals")
        assert time.monotonic() - started >= 0.3  # both Retry-After hints were waited out
        assert sum(pipeline.dropped().values()) == 0
    finally:
        pipeline.shutdown()
    assert len(sink.log_records()) == 1  # delivered once, not once per attempt


def test_permanent_errors_drop_the_batch_and_count_it(monkeypatch: pytest.MonkeyPatch, sink: Sink) -> None:
    sink.script = [(400, {})]
    pipeline = make_pipeline(monkeypatch, sink.url)
    try:
        for index in range(5):
            pipeline.put_log(log_event(index))
        wait_until(
            lambda: pipeline.dropped()[("logs", "export_failed")] == 5, what="5 records counted as failed"
        )
        pipeline.put_log(log_event(9))
        wait_until(lambda: len(sink.log_records()) == 1, what="later records still flow")
    finally:
        pipeline.shutdown()


def test_a_steady_stream_goes_out_in_full_batches_not_a_request_per_arrival(
    monkeypatch: pytest.MonkeyPatch, sink: Sink
) -> None:
    """Records keep arriving while a batch is sent: they wait for the next full batch or the
    scheduled flush. Sending until the queue was empty made 21 requests here, 7 now."""
    sink.delay_s = 0.005  # a collector that takes 5 ms per request
    pipeline = make_pipeline(monkeypatch, sink.url, OTEL_BSP_SCHEDULE_DELAY="1000")
    try:
        for index in range(3000):  # ~1,500 records/s for two seconds
            pipeline.put_log(log_event(index))
            if index % 15 == 14:
                time.sleep(0.01)
        wait_until(lambda: len(sink.log_records()) == 3000, timeout=30, what="every record")
    finally:
        pipeline.shutdown()
    ids = [r.attributes[1].value.string_value for r in sink.log_records()]
    assert len(set(ids)) == 3000  # each once
    requests = len(sink.messages("/v1/logs"))
    assert requests <= 3000 // 512 + 6, f"{requests} requests for 3,000 records in batches of 512"


def test_collector_down_never_blocks_and_counts_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = make_pipeline(monkeypatch, f"http://127.0.0.1:{closed_port()}", OTEL_BLRP_MAX_QUEUE_SIZE="100")
    try:
        for index in range(1000):
            pipeline.put_log(log_event(index))
        # Whatever the export thread managed to take, everything beyond the queue bound is refused.
        dropped = pipeline.dropped()
        assert dropped[("logs", "queue_full")] >= 1000 - 100 - 512
        assert len(pipeline.logs) <= 100
    finally:
        pipeline.shutdown(timeout_s=0.5)


def test_a_collector_that_comes_back_gets_what_was_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    sink_port = closed_port()
    pipeline = make_pipeline(monkeypatch, f"http://127.0.0.1:{sink_port}")
    try:
        for index in range(20):
            pipeline.put_log(log_event(index))
        time.sleep(0.5)  # a few refused attempts, within the retry window
        with running_sink(sink_port) as late_sink:  # the collector starts where it was expected
            wait_until(lambda: len(late_sink.log_records()) == 20, timeout=30, what="the queued records")
    finally:
        pipeline.shutdown(timeout_s=0.5)


def test_queued_spans_and_records_are_no_objects_the_garbage_collector_tracks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What waits in the queues for the export delay must not count towards the collector's
    thresholds: a tracked object per record, alive until the export thread takes it, makes the
    host's collections (full ones 100+ ms with a loaded model) come more often under load.
    Spans wait as bytes, records field by field; measured as the young generation's count
    (net tracked allocations, what triggers collections) over many calls with collection off."""
    monkeypatch.setattr(settings, "_current", settings.AgentSettings())
    pipeline = make_pipeline(
        monkeypatch, f"http://127.0.0.1:{closed_port()}", OTEL_BSP_SCHEDULE_DELAY="60000"
    )
    pipeline._ensure_thread = lambda: None  # nothing leaves the queues while counting
    rows = np.random.default_rng(4).normal(size=(5, 3))
    identity = ModelIdentity("m", "1")
    try:
        gc.collect()
        gc.disable()
        before = gc.get_count()[0]
        for _ in range(100):
            span = start_span("POST /predict", None, SpanKind.SERVER, {"http.route": "/predict", "n": 1},
                              pipeline.put_span, pipeline.trace_bound)  # fmt: skip
            child = start_child_span(
                "model.predict", span, SpanKind.INTERNAL, {"ml.model.name": "m"}, pipeline.put_span
            )
            child.record_exception(ValueError("bad row"))
            child.end()
            span.end()
            emit_predictions(pipeline, identity, ["a", "b", "c"], rows, [0, 1, 0, 1, 1],
                             rows[:, :2].tolist(), span, None, 1_700_000_000_000_000_000)  # fmt: skip
            emit_label(pipeline, "0" * 32, '{"label":1}', identity, None, 1_700_000_000_000_000_000)
        alive = gc.get_count()[0] - before
        gc.enable()
        assert (len(pipeline.spans), len(pipeline.logs)) == (200, 600)
        # A tuple per record would add one each (600); the calls' own short-lived objects,
        # counted on allocation but freed through free lists, add under two per iteration.
        assert alive < 300, f"{alive} net tracked allocations for 800 queued spans and records"
        queued = [*pipeline.spans._items, *pipeline.logs._items]
        assert [type(item).__name__ for item in queued if gc.is_tracked(item)] == []
    finally:
        gc.enable()
        pipeline.shutdown(timeout_s=0.1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_export_thread_runs_at_a_lower_priority_and_the_host_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch, sink: Sink
) -> None:
    """The scheduler favours the request path over the export thread when both could run;
    the host's threads keep the priority they had."""
    host_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    pipeline = make_pipeline(monkeypatch, sink.url)
    try:
        pipeline.put_log(log_event(0))
        wait_until(lambda: len(sink.log_records()) == 1, what="the record")
        thread = pipeline._thread
        assert thread is not None and thread.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == max(host_priority, EXPORT_THREAD_NICE)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == host_priority
    finally:
        pipeline.shutdown(timeout_s=0.5)
