"""Event-time windows of one (model, version) stream: tumbling windows, lateness, long view.

Windows are ``[k * window, (k + 1) * window)`` in event time (the record's time, its observed
time when that is 0). The watermark is the newest event time seen, advanced by the wall-clock
time elapsed since it was seen (so a quiet model still closes its windows), minus the allowed
lateness. A window closes once the watermark passes its end; a record whose window has
already closed is late: counted, never added. On close the window is evaluated, its per-feature
verdicts go through the k-of-m persistence rules, and it joins the long view: the merge of the
closed windows of the last ``long_window``.
"""

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeltel.collector.processors.drift.columns import ColumnBuilder
from modeltel.collector.processors.drift.config import DriftConfig
from modeltel.collector.processors.drift.exemplars import BinTraces, sample_rows
from modeltel.collector.processors.drift.records import Rows
from modeltel.drift import ModelReport, Persistence, Profile, WindowCounts, evaluate

NS = 1_000_000_000


@dataclass
class OpenWindow:
    """A window still taking records. Rows wait in ``pending`` until ``flush_records`` of them
    are there (or the window closes, or a checkpoint is due), so the engine's per-column cost
    is paid once per few thousand records instead of once per small batch."""

    counts: WindowCounts
    traces: BinTraces
    pending: Rows = field(default_factory=Rows)


@dataclass
class WindowResult:
    """What one closed tumbling window (or the long view after it) concluded."""

    start_ns: int
    end_ns: int
    report: ModelReport
    alarms: dict[str, bool]  # per column: persistence alarm (window) or the view's own verdict (long)
    exemplars: dict[str, list[str]]  # per column: trace ids from the most-shifted bins
    evaluated_at: float = field(default_factory=time.time)

    @property
    def drift_share(self) -> float:
        inputs = [f for f in self.report.features if f.role == "feature" and f.tested]
        return sum(self.alarms.get(f.name, False) for f in inputs) / len(inputs) if inputs else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start_ns / NS,
            "end": self.end_ns / NS,
            "evaluated_at": self.evaluated_at,
            "alarms": self.alarms,
            "drift_share": self.drift_share,
            "exemplars": self.exemplars,
            "report": self.report.to_dict(),
        }


@dataclass
class Ingested:
    windowed: int = 0
    late: int = 0
    future: int = 0
    keep: np.ndarray | None = None  # per row: taken into a window (None: none was)
    starts: np.ndarray | None = None  # per row: the start of its window, ns


class ModelStream:
    """The windows, long view and alarm state of one (model, version) against its reference."""

    def __init__(
        self,
        model: str,
        version: str,
        profile: Profile,
        source: str,
        config: DriftConfig,
        clock: Callable[[], int] = time.time_ns,
        segment: tuple[str, str] | None = None,
        parent: "ModelStream | None" = None,
    ) -> None:
        self.model, self.version, self.profile, self.source = model, version, profile, source
        self.segment = segment  # (attribute, value) of a segment's stream; None: the whole model
        self._parent = parent  # a segment's stream follows its model stream's watermark
        self._clock = clock  # wall clock in ns; it advances the watermark of quiet streams
        self._config = config
        self._settings = config.drift_settings()
        self._window_ns = round(config.window * NS)
        self._lateness_ns = round(config.allowed_lateness * NS)
        self._builder = (
            parent._builder if parent is not None
            else ColumnBuilder(profile, config.prediction_column, config.probability_prefix)
        )  # fmt: skip
        self.open: dict[int, OpenWindow] = {}
        self.closed: deque[tuple[int, WindowCounts]] = deque()
        self.max_event_ns: int | None = None
        self.max_event_wall_ns = 0
        self.rules = {
            f.name: Persistence(config.persistence_k, config.persistence_m) for f in profile.features
        }
        self.last_window: WindowResult | None = None
        self.last_long: WindowResult | None = None
        self.windows_closed = 0
        self.rejected = 0  # rows the engine refused (ragged columns); the processor counts them
        self.lock = threading.Lock()  # closed windows and rules, shared with the evaluation thread

    def watermark(self, now_ns: int | None = None) -> float:
        if self._parent is not None:  # so a segment's windows close with its model's
            return self._parent.watermark(now_ns)
        if self.max_event_ns is None:
            return -np.inf
        now_ns = self._clock() if now_ns is None else now_ns
        return self.max_event_ns + max(0, now_ns - self.max_event_wall_ns) - self._lateness_ns

    def add(self, rows: Rows) -> Ingested:
        """Add one batch's rows to the windows it touches (counted at the next flush)."""
        result = Ingested()
        now = self._clock()
        times = np.asarray(rows.times, dtype=np.int64)
        starts = times - times % self._window_ns
        watermark = self.watermark(now)
        late = starts + self._window_ns <= watermark
        future = times > now + round(self._config.max_clock_skew * NS)
        result.late = int(np.count_nonzero(late))
        result.future = int(np.count_nonzero(future))
        keep = ~(late | future)
        if not keep.any():
            return result
        result.windowed = self.place(rows, keep, starts)
        result.keep, result.starts = keep, starts
        newest = int(times[keep].max())
        if self.max_event_ns is None or newest > self.max_event_ns:
            self.max_event_ns, self.max_event_wall_ns = newest, now
        return result

    def place(self, rows: Rows, keep: np.ndarray, starts: np.ndarray) -> int:
        """Queue the ``keep`` rows in their windows (``starts``: each row's window); lateness is
        decided by the caller (:meth:`add`, or a segment's model stream). Returns rows placed."""
        placed = 0
        for start in np.unique(starts[keep]).tolist():
            positions = np.flatnonzero(keep & (starts == start))
            window = self.open.get(start)
            if window is None:
                window = self.open[start] = OpenWindow(WindowCounts(self.profile), BinTraces(self.profile))
            window.pending.extend(rows, None if positions.size == len(rows) else positions.tolist())
            if len(window.pending) >= self._config.flush_records:
                self._flush(window)
            placed += positions.size
        return placed

    def _flush(self, window: OpenWindow) -> None:
        """Count the window's pending rows with one ``WindowCounts.add`` (refused rows: ``rejected``)."""
        rows = window.pending
        if not len(rows):
            return
        window.pending = Rows()
        columns = self._builder.build(rows.texts)
        weights = np.asarray(rows.weights, dtype=np.float64)
        try:
            window.counts.add(columns, weights=None if (weights == 1.0).all() else weights, n_rows=len(rows))
        except ValueError:  # the engine refuses a ragged batch whole; counted, never raised
            self.rejected += len(rows)
            return
        picked = sample_rows(rows.trace_ids, len(rows), self._config.exemplar_samples)
        if picked:
            window.traces.add(columns, picked, [rows.trace_ids[p] for p in picked])

    def flush(self) -> None:
        for window in self.open.values():
            self._flush(window)

    def due(self, now_ns: int | None = None) -> list[int]:
        watermark = self.watermark(now_ns)
        return sorted(start for start in self.open if start + self._window_ns <= watermark)

    def close(self, start: int) -> tuple[WindowResult, WindowResult]:
        """Evaluate the window starting at ``start`` and the long view it ends; drop its traces."""
        return self.conclude(start, self.take(start))

    def take(self, start: int) -> OpenWindow:
        """Stop the window starting at ``start`` taking records (its pending rows counted).
        Cheap, so it runs where records arrive; :meth:`conclude` may then run in a thread."""
        window = self.open.pop(start)
        self._flush(window)
        return window

    def conclude(self, start: int, window: OpenWindow) -> tuple[WindowResult, WindowResult]:
        """Evaluate a taken window and the long view it ends (the costly part: tens of ms).

        Touches only the taken window, the closed windows and the alarm rules, under the
        stream's lock, so it may run off the event loop while records keep arriving; windows
        must be concluded in the order they were taken (the k-of-m rules depend on it)."""
        end = start + self._window_ns
        report = evaluate(window.counts, self._settings)
        exemplars = {f.name: window.traces.most_shifted(f) for f in report.features if f.tested}
        with self.lock:
            alarms = {f.name: self.rules[f.name].update(f.drifted) for f in report.features}
            self.closed.append((start, window.counts))
            long_start = end - round(self._config.long_window * NS)
            while self.closed and self.closed[0][0] < long_start:
                self.closed.popleft()
            merged = WindowCounts(self.profile)
            for _, counts in self.closed:
                merged.merge(counts)
            first = self.closed[0][0]
        long_report = evaluate(merged, self._settings)
        self.last_window = WindowResult(start, end, report, alarms, exemplars)
        self.last_long = WindowResult(
            first, end, long_report, {f.name: f.drifted for f in long_report.features}, exemplars
        )
        self.windows_closed += 1
        return self.last_window, self.last_long

    # checkpoints ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        self.flush()
        with self.lock:  # a window may be concluding in the evaluation thread
            return {
                "model": self.model,
                "version": self.version,
                "source": self.source,
                "max_event_ns": self.max_event_ns,
                "max_event_wall_ns": self.max_event_wall_ns,
                "windows_closed": self.windows_closed,
                "open": {str(start): w.counts.to_dict() for start, w in self.open.items()},
                "closed": [[start, counts.to_dict()] for start, counts in self.closed],
                "rules": {name: rule.state() for name, rule in self.rules.items()},
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Windows and alarm history from ``state()``; ValueError if they do not fit the profile."""
        self.open = {
            int(start): OpenWindow(WindowCounts.from_dict(self.profile, counts), BinTraces(self.profile))
            for start, counts in state["open"].items()
        }
        self.closed = deque(
            (int(start), WindowCounts.from_dict(self.profile, c)) for start, c in state["closed"]
        )
        self.max_event_ns = state["max_event_ns"]
        self.max_event_wall_ns = int(state["max_event_wall_ns"])
        self.windows_closed = int(state["windows_closed"])
        for name, history in state["rules"].items():
            if name in self.rules:
                self.rules[name].restore(history)
        if self.closed:
            merged = WindowCounts(self.profile)
            for _, counts in self.closed:
                merged.merge(counts)
            report = evaluate(merged, self._settings)
            end = self.closed[-1][0] + self._window_ns
            self.last_long = WindowResult(
                self.closed[0][0], end, report, {f.name: f.drifted for f in report.features}, {}
            )
