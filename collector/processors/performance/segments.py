"""Segment values as the join store keeps them: one small segment-set number per row.

Per (model, version) and segment attribute, the engine's ``SegmentCap`` admits the first
``max_segment_values`` distinct values; later new values are stored as ``_other``, missing
ones as ``_missing``. The cap is applied at intake and persisted with the rows (the values
already in the store are re-admitted on start), so a restart keeps the same segments and a
burst of new values cannot grow the series count.
"""

import numpy as np

from modeltel.collector.processors.performance.store import JoinStore, Stream
from modeltel.performance.segments import MISSING, OTHER, SegmentCap


class SegmentSets:
    def __init__(self, store: JoinStore, max_values: int) -> None:
        self._store = store
        self._max = max_values
        self._caps: dict[tuple[int, str], SegmentCap] = {}
        known: dict[tuple[int, str], list[str]] = {}
        for segment_id, values in sorted(store.segment_values.items()):
            stream_id = store.segment_streams[segment_id]
            for name, value in values.items():
                if value not in (OTHER, MISSING):
                    known.setdefault((stream_id, name), []).append(value)
        for key, values in known.items():
            self._caps[key] = SegmentCap(max_values, known=dict.fromkeys(values))
        self._ids: dict[tuple[int, tuple[str, ...]], int] = {}

    def ids(self, stream: Stream, names: tuple[str, ...], rows: list[dict[str, str]]) -> list[int]:
        """The segment-set number of each row."""
        columns = []
        for name in names:
            cap = self._caps.get((stream.id, name))
            if cap is None:
                cap = self._caps[(stream.id, name)] = SegmentCap(self._max)
            columns.append(cap.assign(np.asarray([row[name] for row in rows], dtype=str)).tolist())
        result = []
        for values in zip(*columns, strict=True):
            segment_id = self._ids.get((stream.id, values))
            if segment_id is None:
                segment_id = self._store.segment_set(stream, dict(zip(names, values, strict=True)))
                self._ids[(stream.id, values)] = segment_id
            result.append(segment_id)
        return result
