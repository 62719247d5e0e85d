"""Segment values as the join store keeps them, with the cardinality cap.

Per (model, version) and segment attribute, the first ``max_segment_values`` distinct values
seen become segments; every later new value is stored as ``_other``. The cap is decided at
intake and persisted with the rows, so a restart keeps the same segments and a burst of new
values cannot grow the series count (models x windows x attributes x (cap + 1) x metrics).
"""

from modeltel.collector.processors.performance.store import JoinStore, Stream

OTHER = "_other"


class SegmentCap:
    def __init__(self, store: JoinStore, max_values: int) -> None:
        self._store = store
        self._max = max_values
        self._seen: dict[tuple[int, str], set[str]] = {}
        for segment_id, values in store.segment_values.items():
            stream_id = store.segment_streams[segment_id]
            for name, value in values.items():
                if value != OTHER:
                    self._seen.setdefault((stream_id, name), set()).add(value)
        self._ids: dict[tuple[int, tuple[tuple[str, str], ...]], int] = {}

    def _capped(self, stream: Stream, name: str, value: str) -> str:
        seen = self._seen.setdefault((stream.id, name), set())
        if value in seen:
            return value
        if len(seen) < self._max:
            seen.add(value)
            return value
        return OTHER

    def ids(self, stream: Stream, rows: list[dict[str, str]]) -> list[int]:
        """The segment-set id of each row (values past the cap become ``_other``)."""
        result = []
        for values in rows:
            key = (stream.id, tuple((n, self._capped(stream, n, v)) for n, v in values.items()))
            segment_id = self._ids.get(key)
            if segment_id is None:
                segment_id = self._ids[key] = self._store.segment_set(stream, dict(key[1]))
            result.append(segment_id)
        return result
