"""``drift`` processor: drift and data-quality metrics from ``modeltel.prediction`` logs.

It observes every batch and passes it on unchanged. Per (model, version) it keeps event-time
tumbling windows of weighted bin counts (``modeltel.drift.WindowCounts``), evaluates each
window and the long view when it closes, publishes the verdicts as Prometheus series and on
the JSON status API, and checkpoints its state so a restart keeps its windows.
"""

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from modeltel.collector.component import Consumer, Host
from modeltel.collector.processors.drift import status
from modeltel.collector.processors.drift.checkpoint import read_checkpoint, write_checkpoint
from modeltel.collector.processors.drift.config import DriftConfig, format_duration
from modeltel.collector.processors.drift.metrics import DriftMetrics
from modeltel.collector.processors.drift.records import Rows, decode_batch
from modeltel.collector.processors.drift.references import Bootstrap, load_profiles
from modeltel.collector.processors.drift.segments import SegmentStreams
from modeltel.collector.processors.drift.windows import ModelStream, WindowResult
from modeltel.collector.signals import Signal
from modeltel.drift import Profile

_log = logging.getLogger("modeltel.collector")
Key = tuple[str, str]


class DriftProcessor:
    def __init__(self, component_id: str, config: DriftConfig, next_consumer: Consumer) -> None:
        self._id = component_id
        self._config = config
        self._next = next_consumer
        self._dataset_share = config.drift_settings().dataset_share
        self._window_label = format_duration(config.window)
        self._long_label = format_duration(config.long_window)
        self.profiles: dict[Key, Profile] = {}
        self.streams: dict[Key, ModelStream] = {}
        self.bootstraps: dict[Key, Bootstrap] = {}
        self.segments: dict[Key, SegmentStreams] = {}  # with segment_by: each stream's segments
        self._metrics: DriftMetrics | None = None
        self._last_warning: dict[str, float] = {}
        self._timer: asyncio.Task | None = None
        self._evaluator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modeltel-drift-evaluation")
        self._last_checkpoint = time.monotonic()
        safe_id = component_id.replace("/", "_")
        self.clock = time.time_ns  # the wall clock, replaceable to replay event time in tests
        self._checkpoint = config.state_dir / f"{safe_id}.json" if config.state_dir else None

    # lifecycle ------------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        self._metrics = DriftMetrics.register(host.registry)
        self._metrics.describe_views(
            self._window_label, self._config.window, self._long_label, self._config.long_window
        )
        self.profiles = load_profiles(self._config.profiles_dir)
        self._restore()
        host.add_route(
            status.PREFIX,
            status.handler(
                lambda: self.streams.values(),
                lambda: self.bootstraps.values(),
                self._dataset_share,
                self.segments.get,
            ),
        )
        self._timer = asyncio.create_task(self._tick_forever())

    async def shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await asyncio.get_running_loop().run_in_executor(None, self._evaluator.shutdown)  # let them finish
        self.save()

    async def consume(self, signal: Signal, batch: ExportLogsServiceRequest) -> None:
        try:
            self.observe(batch, background=True)
        except Exception:  # drift must never cost the pipeline its logs
            _log.exception("drift: batch skipped after an internal error")
            self._count_invalid(Tally({"internal_error": 1}))
        await self._next.consume(signal, batch)

    # ingest ---------------------------------------------------------------------------------

    def observe(self, batch: ExportLogsServiceRequest, background: bool = False) -> None:
        """Count the batch's prediction records; windows it closes are evaluated here, or
        with ``background`` (on the event loop) in the evaluation thread."""
        decoded = decode_batch(batch, self._config.segment_by)
        self.ingest(decoded.groups, decoded.invalid, background)

    def ingest(self, groups: dict[Key, Rows], invalid: Tally[str], background: bool = False) -> None:
        """Add decoded rows: one ``WindowCounts.add`` per (stream, window) of the batch."""
        metrics = self._metrics
        assert metrics is not None
        for (model, version), group in groups.items():
            found = self._stream(model, version, group, invalid)
            if found is None:
                continue
            stream, rows = found
            done = stream.add(rows)
            segments = self.segments.get((model, version))
            if segments is not None and done.windowed:
                segments.add(rows, done)
            if done.windowed:
                metrics.records.labels(model, version, "windowed").inc(done.windowed)
            if done.late:
                metrics.late.labels(model, version).inc(done.late)
            if done.future:
                invalid["future_timestamp"] += done.future
            self._close_due(stream, background=background)
        self._count_invalid(invalid)

    def _stream(
        self, model: str, version: str, rows: Rows, invalid: Tally[str]
    ) -> tuple[ModelStream, Rows] | None:
        """The stream of (model, version) and the rows it is to window, or None while its
        reference is still being collected (``rows`` then went into the reference, or were
        counted as unusable)."""
        key = (model, version)
        stream = self.streams.get(key)
        if stream is not None:
            return stream, rows
        if len(self.streams) + len(self.bootstraps) >= self._config.max_models and key not in self.bootstraps:
            invalid["too_many_models"] += len(rows)
            return None
        profile = self.profiles.get(key)
        if profile is not None:
            return self._new_stream(key, profile, "profile"), rows
        if self._config.bootstrap_records == 0:
            invalid["no_profile"] += len(rows)
            return None
        bootstrap = self.bootstraps.get(key)
        if bootstrap is None:
            bootstrap = self.bootstraps[key] = Bootstrap(
                model, version, self._config.bootstrap_records, self._config.prediction_column,
                self._config.probability_prefix,
            )  # fmt: skip
            _log.info("drift: no profile for model %r version %r; the first %d records become its reference",
                      model, version, bootstrap.size)  # fmt: skip
        taken = bootstrap.take(rows)
        assert self._metrics is not None
        self._metrics.records.labels(model, version, "reference").inc(taken)
        if not bootstrap.full:
            return None
        del self.bootstraps[key]
        try:
            profile = bootstrap.build()
        except Exception as error:  # a reference that cannot be built must not stop the others
            _log.warning(
                "drift: reference for model %r version %r could not be built: %s", model, version, error
            )
            invalid["reference_unbuildable"] += len(rows) - taken
            return None
        self.profiles[key] = profile
        rest = rows.tail(taken)
        stream = self._new_stream(key, profile, "bootstrap")
        return (stream, rest) if len(rest) else None

    def _new_stream(self, key: Key, profile: Profile, source: str) -> ModelStream:
        """A model stream (and, with ``segment_by``, its segments' streams), registered."""
        stream = self.streams[key] = ModelStream(*key, profile, source, self._config, self._now)
        if self._config.segment_by:
            self.segments[key] = SegmentStreams(stream, self._config, self._now)
        return stream

    def _now(self) -> int:
        return self.clock()

    def _count_invalid(self, invalid: Tally[str]) -> None:
        assert self._metrics is not None
        now = time.monotonic()
        for reason, count in invalid.items():
            if not count:
                continue
            self._metrics.invalid.labels(reason).inc(count)
            if now - self._last_warning.get(reason, -60.0) >= 60.0:  # at most one line per reason a minute
                self._last_warning[reason] = now
                _log.warning("drift: %d prediction record(s) not fully usable: %s", count, reason)

    # windows --------------------------------------------------------------------------------

    def _close_due(self, stream: ModelStream, now_ns: int | None = None, background: bool = False) -> None:
        """Close the stream's windows the watermark has passed. Evaluating one costs tens of
        milliseconds per model (more when small windows are resampled), so ``background`` runs
        it in the one evaluation thread (in order, off the event loop) and publishes when done."""
        segments = self.segments.get((stream.model, stream.version)) if stream.segment is None else None
        for segment in segments or ():
            self._close_due(segment, now_ns, background)
        for start in stream.due(now_ns):
            window = stream.take(start)
            if background:
                future = asyncio.get_running_loop().run_in_executor(
                    self._evaluator, stream.conclude, start, window
                )
                future.add_done_callback(lambda done, stream=stream: self._published(stream, done))
            else:
                self._publish(stream, *stream.conclude(start, window))
        if stream.rejected:
            if stream.segment is None:  # a segment's rows were counted with its model's
                self._count_invalid(Tally({"columns_inconsistent": stream.rejected}))
            stream.rejected = 0

    def _published(
        self, stream: ModelStream, done: "asyncio.Future[tuple[WindowResult, WindowResult]]"
    ) -> None:
        if done.cancelled():
            return
        if done.exception() is not None:
            _log.error("drift: window evaluation failed", exc_info=done.exception())
            return
        self._publish(stream, *done.result())

    def _publish(self, stream: ModelStream, window: WindowResult, long: WindowResult) -> None:
        metrics = self._metrics
        assert metrics is not None
        model, version, segment = stream.model, stream.version, stream.segment
        metrics.publish(model, version, self._window_label, window, self._dataset_share, segment)
        metrics.publish(model, version, self._long_label, long, None, segment)
        metrics.publish_quality_issues(model, version, self._window_label, window, segment)
        metrics.publish_quality_issues(model, version, self._long_label, long, segment)
        if segment is None:  # the counters stay per model (docs: "Segments")
            metrics.windows.labels(model, version).inc()
            metrics.count_drifted(model, version, window)

    def tick(self, now_ns: int | None = None, background: bool = False) -> None:
        """Close what the wall clock says is over; checkpoint when due."""
        for stream in list(self.streams.values()):
            self._close_due(stream, now_ns, background)
        if time.monotonic() - self._last_checkpoint >= self._config.checkpoint_interval:
            self.save()

    async def _tick_forever(self) -> None:
        interval = min(1.0, self._config.window / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick(background=True)
            except Exception:
                _log.exception("drift: periodic window check failed")

    # checkpoints ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "streams": [
                {
                    **stream.state(),
                    "profile": stream.profile.to_json() if stream.source == "bootstrap" else None,
                    "segments": segments.state() if (segments := self.segments.get(key)) else None,
                }
                for key, stream in self.streams.items()
            ],
            "bootstraps": [
                {"model": b.model, "version": b.version, **b.state()} for b in self.bootstraps.values()
            ],
        }

    def save(self) -> None:
        self._last_checkpoint = time.monotonic()
        if self._checkpoint is None:
            return
        try:
            write_checkpoint(self._checkpoint, self.state())
        except Exception:
            _log.exception("drift: checkpoint %s not written", self._checkpoint)

    def _restore(self) -> None:
        if self._checkpoint is None:
            return
        state = read_checkpoint(self._checkpoint)
        if state is None:
            return
        for saved in state.get("streams", []):
            try:
                self._restore_stream(saved)
            except Exception as error:
                _log.warning("drift: saved windows of model %r version %r ignored: %s",
                             saved.get("model"), saved.get("version"), error)  # fmt: skip
        for saved in state.get("bootstraps", []):
            key = (saved["model"], saved["version"])
            if key in self.streams or key in self.profiles:
                continue
            bootstrap = Bootstrap(*key, self._config.bootstrap_records, self._config.prediction_column,
                                  self._config.probability_prefix)  # fmt: skip
            bootstrap.restore(saved)
            self.bootstraps[key] = bootstrap
        _log.info("drift: restored %d stream(s) and %d reference(s) in progress from %s",
                  len(self.streams), len(self.bootstraps), self._checkpoint)  # fmt: skip

    def _restore_stream(self, saved: dict[str, Any]) -> None:
        key = (saved["model"], saved["version"])
        profile = self.profiles.get(key)
        source = "profile"
        if profile is None and saved.get("profile"):
            profile, source = Profile.from_json(saved["profile"]), "bootstrap"
            self.profiles[key] = profile
        if profile is None:
            raise ValueError("its profile is no longer in profiles_dir")
        stream = ModelStream(*key, profile, source, self._config, self._now)
        stream.restore(saved)
        segments = SegmentStreams(stream, self._config, self._now) if self._config.segment_by else None
        if segments is not None and saved.get("segments"):
            segments.restore(saved["segments"])
        self.streams[key] = stream
        if segments is not None:
            self.segments[key] = segments
        assert self._metrics is not None
        for restored in [stream, *(segments or ())]:
            if restored.last_long is not None:
                self._metrics.publish(*key, self._long_label, restored.last_long, None, restored.segment)
                self._metrics.publish_quality_issues(
                    *key, self._long_label, restored.last_long, restored.segment
                )
