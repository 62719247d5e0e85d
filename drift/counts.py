"""The window state: per-feature weighted bin counts and quality counters, O(bins) in size.

``WindowCounts`` ingests batches column-wise (one array or list of raw values per feature,
one weight per row: 1/sample_rate), adds into fixed reference bins with ``np.searchsorted`` +
``np.bincount``, and merges with another window's counts by addition, so windows, longer
views and collector replicas combine exactly. ``to_dict``/``from_dict`` checkpoint it as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modeltel.drift import columns as col
from modeltel.drift.profile import FeatureProfile, Profile

MAX_NAMES = 100
"""Distinct unexpected-feature / new-category names remembered per window (counts stay exact)."""

_QUALITY = ("missing", "nonfinite", "type_errors", "absent", "below", "above", "new")


class FeatureCounts:
    """Counts of one feature in one window. All counts are sums of row weights."""

    __slots__ = ("above", "absent", "below", "bins", "max", "min", "missing", "new",
                 "new_names", "nonfinite", "rows", "type_errors", "valid", "valid_sq")  # fmt: skip

    def __init__(self, n_bins: int) -> None:
        self.bins = np.zeros(n_bins)
        self.rows = 0.0  # rows of the window, present or not
        self.valid = 0.0  # rows whose value landed in a bin
        self.valid_sq = 0.0  # sum of squared weights of those rows (effective n)
        self.missing = self.nonfinite = self.type_errors = self.absent = 0.0
        self.below = self.above = 0.0  # valid numbers outside the reference [min, max]
        self.new = 0.0  # valid categories the reference never had
        self.min, self.max = np.inf, -np.inf
        self.new_names: dict[str, float] = {}

    @property
    def n_eff(self) -> float:
        """Kish effective sample size of the valid values: (sum w)^2 / sum w^2."""
        return self.valid**2 / self.valid_sq if self.valid_sq > 0 else 0.0

    def merge(self, other: FeatureCounts) -> None:
        self.bins += other.bins
        self.rows += other.rows
        self.valid += other.valid
        self.valid_sq += other.valid_sq
        for name in _QUALITY:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        for name, weight in other.new_names.items():
            _remember(self.new_names, name, weight)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in ("rows", "valid", "valid_sq", *_QUALITY)}
        data["bins"] = self.bins.tolist()
        data["min"] = None if not np.isfinite(self.min) else self.min
        data["max"] = None if not np.isfinite(self.max) else self.max
        data["new_names"] = dict(self.new_names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], n_bins: int) -> FeatureCounts:
        counts = cls(n_bins)
        bins = np.asarray(data["bins"], dtype=np.float64)
        if bins.shape != (n_bins,):
            raise ValueError(f"{bins.size} bins in checkpoint, profile has {n_bins}")
        counts.bins = bins
        for name in ("rows", "valid", "valid_sq", *_QUALITY):
            setattr(counts, name, float(data[name]))
        counts.min = np.inf if data.get("min") is None else float(data["min"])
        counts.max = -np.inf if data.get("max") is None else float(data["max"])
        counts.new_names = {str(k): float(v) for k, v in data.get("new_names", {}).items()}
        return counts


def _remember(names: dict[str, float], name: str, weight: float) -> None:
    if name in names or len(names) < MAX_NAMES:
        names[name] = names.get(name, 0.0) + weight


def _wsum(mask: np.ndarray, weights: np.ndarray | None) -> float:
    return float(np.count_nonzero(mask)) if weights is None else float(weights[mask].sum())


class _FeatureBinner:
    """What one feature's ingest needs from the profile, prepared once."""

    def __init__(self, feature: FeatureProfile) -> None:
        self.feature = feature
        self.n_bins = feature.n_bins
        self.numeric = feature.numeric is not None
        self.identifier = feature.numeric is None and feature.categorical is None
        if feature.numeric is not None:
            self.edges = np.asarray(feature.numeric.edges, dtype=np.float64)
            self.lo, self.hi = feature.numeric.min, feature.numeric.max
            # the bins cut again at the reference min and just above its max: fine bin 0 is
            # "below the range", the last one "above" (every edge lies within [min, max+])
            self.fine_edges = np.unique(
                np.concatenate([self.edges, [self.lo, np.nextafter(self.hi, np.inf)]])
            )
            lower = np.concatenate([[-np.inf], self.fine_edges])
            self.fine_to_bin = np.searchsorted(self.edges, lower, side="right")
        elif feature.categorical is not None:
            cats = feature.categorical
            other = len(cats.categories)
            self.index: dict[Any, int] = {name: i for i, name in enumerate(cats.categories)}
            for name in cats.known or ():
                self.index.setdefault(name, other)
            self.index[None] = col.MISSING_CODE
            self.other = other
            self.tracks_new = cats.complete

    def add(
        self, counts: FeatureCounts, values: col.Column, batch: _Batch, parse_strings: bool
    ) -> np.ndarray | None:
        """Add a column; returns the float values (NaN where invalid) of numeric features."""
        weights = batch.weights
        counts.rows += batch.total
        if self.identifier:  # schema only: presence and missing values, no bins
            missing = col.category_codes(values, {None: col.MISSING_CODE})[0] == col.MISSING_CODE
            counts.missing += _wsum(missing, weights)
            return None
        if self.numeric:
            return self._add_numeric(counts, values, batch, parse_strings)
        codes, new_names = col.category_codes(values, self.index)
        # one bincount for everything: codes -3 (type error), -2 (missing), -1 (new), 0.. bins
        tally = np.bincount(codes + 3, weights=weights, minlength=self.n_bins + 3)
        counts.type_errors += float(tally[0])
        counts.missing += float(tally[1])
        bins = tally[3:]
        if tally[2]:
            bins[self.other] += tally[2]  # new categories share the "other" bin
            if self.tracks_new:
                counts.new += float(tally[2])
                for name in new_names:  # per distinct new name, not per row
                    _remember(counts.new_names, name, 0.0)
        counts.bins += bins
        if tally[0] or tally[1]:
            valid = codes >= 0
            counts.valid += float(bins.sum())
            counts.valid_sq += (
                float(valid.sum()) if weights is None else float(np.dot(w := weights[valid], w))
            )
        else:
            counts.valid += batch.total
            counts.valid_sq += batch.total_sq
        return None

    def bin_indices(self, values: col.Column) -> np.ndarray:
        """Bin of each value, -1 where the value has none (missing, invalid, identifier)."""
        if self.identifier:
            return np.full(len(values), -1, dtype=np.int64)
        if self.numeric:
            x, status = col.numeric(values)
            index = np.searchsorted(self.edges, x, side="right")
            return index if status is None else np.where(status == col.VALID, index, -1)
        codes, _ = col.category_codes(values, self.index)
        codes[codes == col.UNKNOWN] = self.other
        return np.where(codes >= 0, codes, -1)

    def _add_numeric(
        self, counts: FeatureCounts, values: col.Column, batch: _Batch, parse_strings: bool
    ) -> np.ndarray:
        x, status = col.numeric(values, parse_strings)
        weights = batch.weights
        if status is None:  # every value valid: no masks
            xv, wv = x, weights
            counts.valid += batch.total
            counts.valid_sq += batch.total_sq
        else:
            quality = np.bincount(status, weights=weights, minlength=4)
            counts.missing += float(quality[col.MISSING])
            counts.nonfinite += float(quality[col.NONFINITE])
            counts.type_errors += float(quality[col.TYPE_ERROR])
            valid = status == col.VALID
            xv = x[valid]
            wv = None if weights is None else weights[valid]
            counts.valid += float(quality[col.VALID])
            counts.valid_sq += xv.size if wv is None else float(np.dot(wv, wv))
        if xv.size:
            # one pass over the values: bins refined by the reference min and max, folded back
            fine = np.bincount(
                np.searchsorted(self.fine_edges, xv, side="right"),
                weights=wv,
                minlength=self.fine_edges.size + 1,
            )
            counts.bins += np.bincount(self.fine_to_bin, weights=fine, minlength=self.n_bins)
            counts.below += float(fine[0])
            counts.above += float(fine[-1])
            counts.min = min(counts.min, float(xv.min()))
            counts.max = max(counts.max, float(xv.max()))
        return x


class _Batch:
    """Per-batch figures shared by every column."""

    __slots__ = ("total", "total_sq", "weights")

    def __init__(self, weights: np.ndarray | None, n_rows: int) -> None:
        self.weights = weights
        self.total = float(n_rows) if weights is None else float(weights.sum())
        self.total_sq = float(n_rows) if weights is None else float(np.dot(weights, weights))


class WindowCounts:
    """Mergeable counts of one model version's records over a window, against its profile.

    ``add`` is the only ingest path (files, DataFrames, the streaming processor)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._binners = {f.name: _FeatureBinner(f) for f in profile.features}
        self.features = {f.name: FeatureCounts(f.n_bins) for f in profile.features}
        self.rows = 0.0  # weighted
        self.records = 0  # unweighted
        self.unexpected: dict[str, float] = {}
        mv = profile.multivariate
        self.multivariate = FeatureCounts(len(mv.error.counts)) if mv is not None else None
        self.error_sum = 0.0
        if mv is not None:
            self._mv_center = np.asarray(mv.center)
            self._mv_scale = np.asarray(mv.scale)
            self._mv_components = np.asarray(mv.components, dtype=np.float64).reshape(-1, len(mv.features))
            self._mv_edges = np.asarray(mv.error.edges)

    def add(
        self,
        columns: Mapping[str, col.Column],
        weights: np.ndarray | None = None,
        n_rows: int | None = None,
        parse_strings: bool = False,
    ) -> None:
        """Add a batch of rows given column-wise.

        ``columns`` maps feature name -> values of every row (numpy array, or list of raw JSON
        values with None for a missing one). A profile feature not in ``columns`` counts as
        absent for all rows (schema); a column the profile does not know is counted as
        unexpected. ``weights`` (one per row, e.g. 1/sample_rate) re-weight every count;
        ``n_rows`` is needed only when ``columns`` is empty."""
        if n_rows is None:
            n_rows = len(next(iter(columns.values()))) if columns else 0
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != (n_rows,):
                raise ValueError(f"{weights.size} weights for {n_rows} rows")
        for name, values in columns.items():  # all or nothing: a bad batch changes no count
            if len(values) != n_rows:
                raise ValueError(f"column {name!r} has {len(values)} values for {n_rows} rows")
        batch = _Batch(weights, n_rows)
        total = batch.total
        self.rows += total
        self.records += n_rows
        numeric_values: dict[str, np.ndarray] = {}
        for name, values in columns.items():
            binner = self._binners.get(name)
            if binner is None:
                self.unexpected[name] = self.unexpected.get(name, 0.0) + total
                if len(self.unexpected) > MAX_NAMES:
                    self.unexpected.pop(name)
                continue
            x = binner.add(self.features[name], values, batch, parse_strings)
            if x is not None:
                numeric_values[name] = x
        for name, counts in self.features.items():
            if name not in columns:
                counts.rows += total
                counts.absent += total
        if self.multivariate is not None and n_rows:
            self._add_multivariate(numeric_values, n_rows, weights)

    def _add_multivariate(
        self, numeric_values: dict[str, np.ndarray], n_rows: int, weights: np.ndarray | None
    ) -> None:
        """Reconstruction error of each complete row under the reference PCA. Rows with a
        missing or invalid value are left out (as in the reference): missingness is a quality
        metric, and imputing it would leak a missing-rate change into multivariate drift."""
        mv = self.profile.multivariate
        z = np.empty((n_rows, len(mv.features)))
        for j, name in enumerate(mv.features):
            x = numeric_values.get(name)
            z[:, j] = np.nan if x is None else (x - self._mv_center[j]) / self._mv_scale[j]
        complete = np.isfinite(z).all(axis=1)
        if not complete.all():
            z = z[complete]
            weights = None if weights is None else weights[complete]
        if z.shape[0] == 0:
            return
        error = projection_error(z, self._mv_components)
        counts = self.multivariate
        total = z.shape[0] if weights is None else float(weights.sum())
        counts.rows += total
        counts.bins += np.bincount(
            np.searchsorted(self._mv_edges, error, side="right"), weights=weights, minlength=counts.bins.size
        )
        counts.valid += total
        counts.valid_sq += z.shape[0] if weights is None else float(np.dot(weights, weights))
        self.error_sum += float(error.sum() if weights is None else np.dot(error, weights))
        counts.min = min(counts.min, float(error.min()))
        counts.max = max(counts.max, float(error.max()))

    def bin_indices(self, name: str, values: col.Column) -> np.ndarray:
        """Bin of each value of feature ``name`` (-1: none), e.g. to pick the records of the
        most-shifted bins (``argmax |current - reference|`` of its report) as exemplars."""
        return self._binners[name].bin_indices(values)

    def merge(self, other: WindowCounts) -> WindowCounts:
        """Add ``other`` (same profile) into self; returns self."""
        if other.profile.names != self.profile.names:
            raise ValueError("cannot merge counts of different profiles")
        for name, counts in self.features.items():
            counts.merge(other.features[name])
        self.rows += other.rows
        self.records += other.records
        for name, weight in other.unexpected.items():
            _remember(self.unexpected, name, weight)
        if self.multivariate is not None and other.multivariate is not None:
            self.multivariate.merge(other.multivariate)
            self.error_sum += other.error_sum
        return self

    def copy(self) -> WindowCounts:
        return WindowCounts.from_dict(self.profile, self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "records": self.records,
            "unexpected": dict(self.unexpected),
            "features": {name: counts.to_dict() for name, counts in self.features.items()},
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
            "error_sum": self.error_sum,
        }

    @classmethod
    def from_dict(cls, profile: Profile, data: Mapping[str, Any]) -> WindowCounts:
        window = cls(profile)
        window.rows = float(data["rows"])
        window.records = int(data["records"])
        window.unexpected = {str(k): float(v) for k, v in data.get("unexpected", {}).items()}
        for name, counts in data["features"].items():
            if name not in window.features:
                raise ValueError(f"checkpoint has feature {name!r} the profile does not")
            window.features[name] = FeatureCounts.from_dict(counts, profile.feature(name).n_bins)
        if window.multivariate is not None and data.get("multivariate") is not None:
            window.multivariate = FeatureCounts.from_dict(data["multivariate"], window.multivariate.bins.size)
            window.error_sum = float(data.get("error_sum", 0.0))
        return window


ERROR_CAP = 1e12
"""Largest reconstruction error kept per row. A finite value like 1e300 overflows the squares
(inf - inf = NaN); capped, such a row still lands in the top bin and window sums stay finite
(a NaN sum would also not survive a JSON checkpoint)."""


def projection_error(z: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Squared distance of each standardised row from the principal subspace, per dimension."""
    kept = z @ components.T  # rows of components are orthonormal: |z|^2 - |projection|^2
    with np.errstate(over="ignore", invalid="ignore"):
        error = np.einsum("ij,ij->i", z, z) - np.einsum("ij,ij->i", kept, kept)
    error = np.nan_to_num(error, nan=ERROR_CAP, posinf=ERROR_CAP)
    return np.clip(error / max(z.shape[1], 1), 0.0, ERROR_CAP)
