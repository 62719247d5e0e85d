"""``performance`` processor: joins labels to predictions and exports model performance.

Every batch's ``modeltel.prediction`` and ``modeltel.label`` records are written to the join
store (committed) before the batch goes on, so whatever the sender got acknowledged is on
disk. Labels also come from ``POST /api/v1/labels``. Streams that received predictions or
labels are re-evaluated every ``evaluation_interval`` in a worker thread with its own SQLite
connection; the results become Prometheus series and the ``/api/v1/performance`` status.
The batch itself passes on unchanged: a store failure is logged and counted, never costs the
pipeline its logs.
"""

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections import Counter as Tally
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from modeltel.collector.component import Consumer, Host
from modeltel.collector.log_throttle import ThrottledWarnings
from modeltel.collector.processors.drift.config import format_duration
from modeltel.collector.processors.drift.references import load_profiles
from modeltel.collector.processors.performance import label_api, status
from modeltel.collector.processors.performance.config import PerformanceConfig
from modeltel.collector.processors.performance.evaluation import (
    StreamContext,
    StreamPerformance,
    evaluate_stream,
)
from modeltel.collector.processors.performance.events import PredictionEvents, decode_events
from modeltel.collector.processors.performance.label_values import Scalar
from modeltel.collector.processors.performance.metrics import PerformanceMetrics
from modeltel.collector.processors.performance.probabilities import encode_probabilities
from modeltel.collector.processors.performance.segments import SegmentSets
from modeltel.collector.processors.performance.store import Join, JoinStore, NewPredictions, PredictionOutcome
from modeltel.collector.signals import Signal
from modeltel.drift import Profile
from modeltel.exporters.sending import state_file
from modeltel.performance.estimation import PerformanceEstimator

_log = logging.getLogger("modeltel.collector")
Key = tuple[str, str]


class PerformanceProcessor:
    def __init__(self, component_id: str, config: PerformanceConfig, next_consumer: Consumer) -> None:
        self._id = component_id
        self._config = config
        self._next = next_consumer
        self._windows = [(format_duration(seconds), seconds) for seconds in config.windows]
        self._segment_by = tuple(config.segment_by)
        self._temporary: Path | None = None
        self.store: JoinStore | None = None
        self.profiles: dict[Key, Profile] = {}
        self._estimators: dict[Key, tuple[PerformanceEstimator | None, PerformanceEstimator | None]] = {}
        self.results: dict[Key, StreamPerformance] = {}
        self._dirty: set[int] = set()
        self._metrics: PerformanceMetrics | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="performance-store")
        self._evaluator = ThreadPoolExecutor(1, thread_name_prefix="performance-evaluation")
        self._reader = None
        self._segments: SegmentSets | None = None
        self._tasks: list[asyncio.Task] = []
        self._warnings = ThrottledWarnings(_log)

    # lifecycle ------------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        self._metrics = PerformanceMetrics.register(host.registry)
        self.profiles = load_profiles(self._config.profiles_dir)
        directory = self._config.state_dir
        if directory is None:
            directory = self._temporary = Path(tempfile.mkdtemp(prefix="modeltel-performance-"))
            _log.warning(
                "performance: no state_dir, so predictions waiting for labels live in %s and are lost "
                "at shutdown; set processors.performance.state_dir to keep them across restarts",
                directory,
            )
        path = state_file(directory, self._id)
        config = self._config
        self.store = await self._write(
            JoinStore, path, config.prediction_ttl, config.label_ttl, config.max_predictions,
            config.max_pending_labels, config.fsync,
        )  # fmt: skip
        self._reader = await self._evaluate_in_thread(self.store.reader)
        self._segments = SegmentSets(self.store, config.max_segment_values)
        self._dirty = set(self.store.streams_by_id)  # evaluate what a previous run left
        self._publish_store()
        host.add_route(
            label_api.PATH,
            label_api.handler(
                self.submit_labels, config.max_label_request_bytes, config.max_labels_per_request,
                config.max_clock_skew, self._count_label_invalid,
            ),
            method="POST",
        )  # fmt: skip
        host.add_route(status.PREFIX, status.handler(self.status))
        self._tasks = [
            asyncio.create_task(self._every(config.evaluation_interval, self.evaluate_due)),
            asyncio.create_task(self._every(config.expiry_interval, self.expire)),
        ]

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.store is not None:
            await self._write(self.store.close)
        if self._reader is not None:
            await self._evaluate_in_thread(self._reader.close)
        self._writer.shutdown()
        self._evaluator.shutdown()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    async def _every(self, seconds: float, action) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:
                _log.exception("performance: periodic %s failed", action.__name__)

    async def _write(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._writer, function, *args)

    async def _evaluate_in_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._evaluator, function, *args)

    # intake ---------------------------------------------------------------------------------

    async def consume(self, signal: Signal, batch: ExportLogsServiceRequest) -> None:
        try:
            await self.observe(batch)
        except Exception:  # the join store must never cost the pipeline its logs
            _log.exception("performance: batch not stored after an internal error")
            self._count_invalid(Tally({"internal_error": 1}))
        await self._next.consume(signal, batch)

    async def observe(self, batch: ExportLogsServiceRequest) -> None:
        decoded = decode_events(batch, self._segment_by)
        metrics = self._metrics
        assert metrics is not None
        invalid = decoded.invalid
        label_problems = {reason: count for reason, count in invalid.items() if reason.startswith("label")}
        for reason in label_problems:
            del invalid[reason]
        received = len(decoded.labels.items) + sum(label_problems.values())
        if received:
            metrics.labels_received.labels("otlp").inc(received)
        for reason, count in label_problems.items():
            metrics.labels_invalid.labels(reason).inc(count)
        if decoded.predictions:
            touched, outcome = await self._write(self._store_predictions, decoded.predictions, invalid)
            self._dirty |= touched
            if outcome.duplicates:
                metrics.predictions_duplicate.inc(outcome.duplicates)
            if outcome.evicted:
                metrics.evicted.labels("prediction", "size").inc(outcome.evicted)  # labelled or not
            self._count_joins(outcome.joins)
        if decoded.labels.items:
            await self._store_labels(decoded.labels.items)
        self._count_invalid(invalid)
        self._publish_store()

    def _store_predictions(
        self, groups: dict[Key, PredictionEvents], invalid: Tally[str]
    ) -> tuple[set[int], PredictionOutcome]:
        """Runs on the store's thread: catalog lookups, encoding and the insert transaction."""
        store, metrics, segments = self.store, self._metrics, self._segments
        assert store is not None and metrics is not None and segments is not None
        rows = NewPredictions()
        touched: set[int] = set()
        for (model, version), events in groups.items():
            if (model, version) not in store.streams and len(store.streams) >= self._config.max_models:
                invalid["too_many_models"] += len(events)
                continue
            stream = store.stream(model, version)
            proba, bad = encode_probabilities(store, stream, events.probabilities)
            if bad:
                invalid["probabilities_invalid"] += bad
            rows.ids += events.ids
            rows.streams += [stream.id] * len(events)
            rows.times_ms += events.times_ms
            rows.predicted += events.predictions
            rows.proba += proba
            rows.weights += events.weights
            rows.segments += (
                segments.ids(stream, self._segment_by, events.segments)
                if events.segments
                else [None] * len(events)
            )
            metrics.predictions.labels(model, version).inc(len(events))
            touched.add(stream.id)
        return touched, store.add_predictions(rows)

    async def submit_labels(self, items: list[tuple[bytes, Scalar, int]]) -> list[str]:
        """Labels from the API: counted as received there, committed before the answer."""
        assert self._metrics is not None
        self._metrics.labels_received.labels("api").inc(len(items))
        statuses = await self._store_labels(items)
        self._publish_store()
        return statuses

    async def _store_labels(self, items: list[tuple[bytes, Scalar, int]]) -> list[str]:
        store, metrics = self.store, self._metrics
        assert store is not None and metrics is not None
        outcome = await self._write(store.add_labels, items)
        duplicates = Tally(s for s in outcome.statuses if s.endswith("duplicate"))
        if duplicates["duplicate"]:
            metrics.labels_duplicate.labels("false").inc(duplicates["duplicate"])
        if duplicates["conflicting_duplicate"]:
            metrics.labels_duplicate.labels("true").inc(duplicates["conflicting_duplicate"])
        if outcome.evicted:
            metrics.evicted.labels("label", "size").inc(outcome.evicted)
        self._count_joins(outcome.joins)
        return outcome.statuses

    def _count_joins(self, joins: list[Join]) -> None:
        store, metrics = self.store, self._metrics
        assert store is not None and metrics is not None
        for join in joins:
            stream = store.streams_by_id[join.stream]
            metrics.labels_joined.labels(stream.model, stream.version).inc()
            metrics.delay.labels(stream.model, stream.version).observe(join.delay_s)
            self._dirty.add(join.stream)

    async def expire(self) -> None:
        store, metrics = self.store, self._metrics
        assert store is not None and metrics is not None
        expired = await self._write(store.expire)
        if expired.unlabelled_predictions:
            metrics.evicted.labels("prediction_unlabelled", "ttl").inc(expired.unlabelled_predictions)
        if expired.predictions - expired.unlabelled_predictions:
            metrics.evicted.labels("prediction_labelled", "ttl").inc(
                expired.predictions - expired.unlabelled_predictions
            )
        if expired.labels:
            metrics.evicted.labels("label", "ttl").inc(expired.labels)
        if expired.predictions:
            self._dirty.update(store.streams_by_id)
        self._publish_store()

    def _publish_store(self) -> None:
        store, metrics = self.store, self._metrics
        if store is None or metrics is None:
            return
        metrics.stored.set(store.predictions)
        metrics.awaiting.set(store.awaiting)
        metrics.pending.set(store.pending)
        metrics.store_bytes.set(store.size_bytes())

    # evaluation -----------------------------------------------------------------------------

    def _estimators_of(self, key: Key) -> tuple[PerformanceEstimator | None, PerformanceEstimator | None]:
        """The profile's estimator, and a light one (a token band simulation) for the gap."""
        if key not in self._estimators:
            profile = self.profiles.get(key)
            estimators: tuple[PerformanceEstimator | None, PerformanceEstimator | None] = (None, None)
            if profile is not None:
                try:
                    estimators = (
                        PerformanceEstimator.from_profile(
                            profile, max_band_rows=self._config.estimation_band_rows
                        ),
                        PerformanceEstimator.from_profile(profile, draws=2, max_band_rows=100),
                    )
                except Exception as error:
                    _log.warning("performance: no estimation for model %r version %r: %s", *key, error)
            self._estimators[key] = estimators
        return self._estimators[key]

    async def evaluate_due(self) -> None:
        """Re-evaluate every stream that got predictions or labels since its last evaluation."""
        store, metrics = self.store, self._metrics
        assert store is not None and metrics is not None
        due, self._dirty = self._dirty, set()
        for stream_id in sorted(due):
            stream = store.streams_by_id[stream_id]
            key = (stream.model, stream.version)
            context = StreamContext(
                stream_id, stream.model, stream.version, tuple(stream.classes), dict(store.segment_values),
                self._segment_by, self.profiles.get(key), *self._estimators_of(key),
            )  # fmt: skip
            try:
                result = await self._evaluate_in_thread(evaluate_stream, self._reader, context, self._windows)
            except Exception:
                _log.exception("performance: evaluation of model %r version %r failed", *key)
                continue
            self.results[key] = result
            metrics.publish(result)

    # status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        store = self.store
        assert store is not None
        return {
            "store": {
                "path": str(store.path),
                "predictions": store.predictions,
                "awaiting_labels": store.awaiting,
                "pending_labels": store.pending,
                "bytes": store.size_bytes(),
            },
            "windows": [label for label, _ in self._windows],
            "models": [result.to_dict() for result in self.results.values()],
        }

    def _count_label_invalid(self, reason: str) -> None:
        """An invalid API item (received and refused), or a refused request (``request_*``)."""
        assert self._metrics is not None
        if not reason.startswith("request_"):
            self._metrics.labels_received.labels("api").inc()
        self._metrics.labels_invalid.labels(reason).inc()

    def _count_invalid(self, invalid: Tally[str]) -> None:
        assert self._metrics is not None
        for reason, count in invalid.items():
            if count:
                self._metrics.records_invalid.labels(reason).inc(count)
                self._warnings.warn(reason, "performance: %d record(s) not usable: %s", count, reason)
