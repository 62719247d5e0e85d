"""Trace ids of sampled records per reference bin, to point a drift alarm at real requests.

For each open window and feature we keep, per bin, the trace id of the latest sampled record
whose value fell in it: O(features x bins) ids per window, whatever the traffic. When the
window closes, the bins whose share moved most (``|current - reference|``) name the records
to look at. Only a few records per batch are sampled (evenly spaced, with a trace id), so
the cost is a few small ``searchsorted`` calls per batch.
"""

from typing import Any

import numpy as np

from modeltel.drift import FeatureReport, Profile
from modeltel.drift import columns as values

MOST_SHIFTED_BINS = 3


def _category_index(profile: Profile, name: str) -> dict[Any, int]:
    categorical = profile.feature(name).categorical
    assert categorical is not None
    other = len(categorical.categories)
    index: dict[Any, int] = {category: i for i, category in enumerate(categorical.categories)}
    for category in categorical.known or ():
        index.setdefault(category, other)
    return index


class BinTraces:
    """Latest sampled trace id per (feature, bin) of one window."""

    def __init__(self, profile: Profile) -> None:
        self._edges = {
            f.name: np.asarray(f.numeric.edges, dtype=np.float64)
            for f in profile.features
            if f.numeric is not None
        }
        self._indexes = {f.name: _category_index(profile, f.name) for f in profile.features if f.categorical}
        self._other = {name: len(profile.feature(name).categorical.categories) for name in self._indexes}
        self.traces: dict[str, dict[int, bytes]] = {}

    def add(self, columns: dict[str, Any], rows: list[int], trace_ids: list[bytes]) -> None:
        """Remember ``trace_ids`` (one per row index in ``rows``) under the bins of their values."""
        if not rows:
            return
        index = np.asarray(rows)
        for name, column in columns.items():
            if name in self._edges:
                if isinstance(column, np.ndarray):  # already floats: NaN/inf are not valid
                    x = column[index]
                    valid = np.isfinite(x)
                else:
                    x, status = values.numeric([column[i] for i in rows])
                    # later engines return no status when every value is valid
                    valid = np.isfinite(x) if status is None else status == values.VALID
                bins = np.searchsorted(self._edges[name], x, side="right")
            elif name in self._indexes:
                sample = (
                    column[index].tolist() if isinstance(column, np.ndarray) else [column[i] for i in rows]
                )
                bins, _ = values.category_codes(sample, self._indexes[name])
                bins[bins == values.UNKNOWN] = self._other[name]
                valid = bins >= 0
            else:
                continue
            store = self.traces.setdefault(name, {})
            for position in np.flatnonzero(valid).tolist():
                store[int(bins[position])] = trace_ids[position]

    def most_shifted(self, report: FeatureReport) -> list[str]:
        """Hex trace ids from the bins whose share moved most, largest move first."""
        store = self.traces.get(report.name)
        if not store or not report.current or not report.reference:
            return []
        shift = np.abs(np.asarray(report.current) - np.asarray(report.reference))
        found = []
        for b in np.argsort(-shift, kind="stable").tolist():
            if b in store:
                found.append(store[b].hex())
                if len(found) == MOST_SHIFTED_BINS:
                    break
        return found


def sample_rows(trace_ids: list[bytes], n_rows: int, limit: int) -> list[int]:
    """Up to ``limit`` evenly spaced row positions whose record has a trace id."""
    if limit <= 0 or n_rows == 0:
        return []
    step = max(1, n_rows // limit)
    zero = bytes(16)
    return [p for p in range(0, n_rows, step)[:limit] if len(trace_ids[p]) == 16 and trace_ids[p] != zero]
