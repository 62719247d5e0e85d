"""Drift per segment: the windows of one (model, version) split by the values of attributes.

For each ``segment_by`` attribute, the engine's ``SegmentCap`` admits the first
``max_segment_values`` distinct values of the (model, version) (first come, first kept, so a
series never changes meaning); later new values go to ``_other``, records without the
attribute to ``_missing``. Each (attribute, value) gets its own :class:`ModelStream` against
the model's reference profile. It takes the rows its model stream kept (lateness, future
timestamps and the watermark are the model stream's), so its windows close with the model's
and its records are a subset of the model's window. Admitted values are checkpointed with the
windows, so a restart keeps the same segments.
"""

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from modeltel.collector.processors.drift.config import DriftConfig
from modeltel.collector.processors.drift.records import Rows
from modeltel.collector.processors.drift.windows import Ingested, ModelStream
from modeltel.performance.segments import MISSING, OTHER, SegmentCap

SegmentKey = tuple[str, str]  # (attribute, value)


class SegmentStreams:
    """The segments' streams of one model stream."""

    def __init__(self, stream: ModelStream, config: DriftConfig, clock: Callable[[], int]) -> None:
        self._stream = stream
        self._config = config
        self._clock = clock
        self.caps = {name: SegmentCap(config.max_segment_values) for name in config.segment_by}
        self.streams: dict[SegmentKey, ModelStream] = {}

    def __iter__(self) -> Iterator[ModelStream]:
        return iter(list(self.streams.values()))

    def _segment(self, key: SegmentKey) -> ModelStream:
        stream = self.streams.get(key)
        if stream is None:
            parent = self._stream
            stream = self.streams[key] = ModelStream(
                parent.model, parent.version, parent.profile, parent.source, self._config, self._clock,
                segment=key, parent=parent,
            )  # fmt: skip
        return stream

    def add(self, rows: Rows, done: Ingested) -> None:
        """Queue the rows the model stream kept (``done``) in their segments' windows."""
        if done.keep is None or done.starts is None:
            return
        kept = np.flatnonzero(done.keep)
        for name, cap in self.caps.items():
            values = np.asarray(rows.segments[name], dtype=str)
            groups = cap.assign(values[kept])
            distinct, inverse = np.unique(groups, return_inverse=True)
            for index, value in enumerate(distinct.tolist()):
                mask = np.zeros(len(rows), dtype=bool)
                mask[kept[inverse == index]] = True
                self._segment((name, value)).place(rows, mask, done.starts)

    # checkpoints ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "caps": {name: cap.groups for name, cap in self.caps.items()},
            "streams": [{"segment": list(key), **stream.state()} for key, stream in self.streams.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Admitted values and windows from :meth:`state`; attributes no longer configured are
        dropped, and ValueError if the counts do not fit the profile."""
        for name, groups in state.get("caps", {}).items():
            if name in self.caps:
                self.caps[name] = SegmentCap(self._config.max_segment_values, known=groups)
        for saved in state.get("streams", []):
            name, value = saved["segment"]
            cap = self.caps.get(name)
            if cap is not None and (value in cap.groups or value in (OTHER, MISSING)):  # cap may be lower now
                self._segment((name, value)).restore(saved)
