"""Reference profile: what "normal" looked like for one model version, in O(bins) numbers.

A profile is the only thing the engine compares windows against, so it stores the reference
*counts* (not just proportions) and their n: every test is two-sample, the reference being a
finite sample too. JSON on disk, validated on load (a bad or foreign file is a clear error).
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modeltel.performance.baseline import PerformanceProfile

FORMAT_VERSION = 1

Kind = Literal["numeric", "discrete", "categorical", "identifier"]
"""numeric: quantile bins; discrete: one bin per reference value (few distinct numbers);
categorical: top-K categories + other; identifier: near-unique ids, schema only (never tested)."""

Role = Literal["feature", "prediction", "score", "target"]


class ProfileError(ValueError):
    """A profile file that cannot be used: unreadable, malformed, or of another format."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumericBins(_Model):
    """Half-open bins ``[edges[i-1], edges[i])`` with open outer bins: ``len(edges) + 1`` bins.

    A point mass ``v`` is the bin ``[v, nextafter(v, inf))``, so it holds exactly ``v``."""

    edges: list[float]
    counts: list[float] = Field(description="Reference count per bin, len(edges) + 1.")
    min: float
    max: float
    mean: float
    std: float
    quantiles: dict[str, float] = Field(default_factory=dict, description="p01, p05, p25, p50, ...")

    @model_validator(mode="after")
    def _shape(self) -> NumericBins:
        if len(self.counts) != len(self.edges) + 1:
            raise ValueError(f"{len(self.counts)} counts for {len(self.edges)} edges (want edges + 1)")
        if any(b <= a for a, b in pairwise(self.edges)):
            raise ValueError("edges must be strictly increasing")
        return self


class CategoricalBins(_Model):
    """Top-K categories, one bin each, then one "other" bin (last) for every other value."""

    categories: list[str]
    counts: list[float] = Field(description="Reference count per category, then the 'other' count.")
    known: list[str] | None = Field(
        default=None,
        description="Further reference categories (in 'other'); None when there were too many to keep.",
    )
    n_distinct: int
    singletons: int = Field(0, description="Categories seen once: Good-Turing estimate of unseen mass.")

    @model_validator(mode="after")
    def _shape(self) -> CategoricalBins:
        if len(self.counts) != len(self.categories) + 1:
            raise ValueError(f"{len(self.counts)} counts for {len(self.categories)} categories (want + 1)")
        return self

    @property
    def complete(self) -> bool:
        """Whether every reference category is known (so an unknown value is really new)."""
        return self.known is not None


class FeatureProfile(_Model):
    name: str
    kind: Kind
    role: Role = "feature"
    dtype: str = Field("", description="Source dtype, for humans.")
    rows: float = Field(description="Reference rows (present or missing).")
    missing: float = 0.0
    nonfinite: float = 0.0
    type_errors: float = 0.0
    numeric: NumericBins | None = None
    categorical: CategoricalBins | None = None

    @model_validator(mode="after")
    def _bins(self) -> FeatureProfile:
        if self.kind in ("numeric", "discrete") and self.numeric is None:
            raise ValueError(f"{self.kind} feature {self.name!r} has no numeric bins")
        if self.kind == "categorical" and self.categorical is None:
            raise ValueError(f"categorical feature {self.name!r} has no categories")
        return self

    @property
    def tested(self) -> bool:
        return self.kind != "identifier"

    @property
    def n_bins(self) -> int:
        if self.numeric is not None:
            return len(self.numeric.counts)
        if self.categorical is not None:
            return len(self.categorical.counts)
        return 0

    def reference_counts(self) -> np.ndarray:
        bins = self.numeric if self.numeric is not None else self.categorical
        return np.asarray(bins.counts if bins is not None else [], dtype=np.float64)


class MultivariateProfile(_Model):
    """PCA of the standardised numeric features, and the reference's reconstruction-error bins.

    Fitted on one half of the reference and binned on the other half, so the error bins are
    out-of-sample like every window's."""

    features: list[str]
    center: list[float]
    scale: list[float]
    components: list[list[float]] = Field(description="k x d, rows orthonormal.")
    explained_variance_ratio: float
    error: NumericBins


class Profile(_Model):
    format: Literal["modeltel.profile"] = "modeltel.profile"
    format_version: int = FORMAT_VERSION
    model: str = ""
    version: str = ""
    created: str = ""
    rows: float
    features: list[FeatureProfile]
    multivariate: MultivariateProfile | None = None
    performance: PerformanceProfile | None = Field(
        default=None, description="Labelled reference's baseline (docs/performance.md); None: unlabelled."
    )

    @model_validator(mode="after")
    def _unique(self) -> Profile:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if self.format_version > FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version} is newer than this modeltel reads")
        return self

    def feature(self, name: str) -> FeatureProfile:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    # -- (de)serialisation -------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=None, exclude_none=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def from_json(cls, text: str | bytes) -> Profile:
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise ProfileError(f"not a modeltel profile: {_first_error(error)}") from None

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        try:
            text = Path(path).read_bytes()
        except OSError as error:
            raise ProfileError(f"cannot read profile {path}: {error.strerror or error}") from None
        try:
            json.loads(text)
        except ValueError as error:
            raise ProfileError(f"profile {path} is not JSON: {error}") from None
        return cls.from_json(text)

    # -- merging -----------------------------------------------------------------------
    def merge(self, other: Profile) -> Profile:
        """Sum two profiles built on the same bins (e.g. ``build_profile(data, like=profile)``).

        Bin edges, categories, PCA and the performance baseline are kept from ``self``; ranges
        widen; means/stds are pooled. Raises ProfileError when the binning differs (counts would
        not be comparable)."""
        if self.names != other.names:
            raise ProfileError("cannot merge profiles with different features")
        merged = []
        for a, b in zip(self.features, other.features, strict=True):
            merged.append(_merge_feature(a, b))
        return self.model_copy(update={"rows": self.rows + other.rows, "features": merged})


def load_directory(directory: str | Path) -> tuple[dict[tuple[str, str], Profile], dict[str, str]]:
    """Every ``*.json`` profile of a directory by (model, version), and the files that could
    not be used with the reason (unreadable, invalid, or a second profile for one version)."""
    profiles: dict[tuple[str, str], Profile] = {}
    errors: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.json")):
        try:
            profile = Profile.load(path)
        except ProfileError as error:
            errors[str(path)] = str(error)
            continue
        key = (profile.model, profile.version)
        if key in profiles:
            errors[str(path)] = f"another profile already covers model {key[0]!r} version {key[1]!r}"
            continue
        profiles[key] = profile
    return profiles, errors


def _merge_feature(a: FeatureProfile, b: FeatureProfile) -> FeatureProfile:
    if a.kind != b.kind:
        raise ProfileError(f"feature {a.name!r}: kinds differ ({a.kind} vs {b.kind})")
    update: dict = {
        "rows": a.rows + b.rows,
        "missing": a.missing + b.missing,
        "nonfinite": a.nonfinite + b.nonfinite,
        "type_errors": a.type_errors + b.type_errors,
    }
    if a.numeric is not None and b.numeric is not None:
        if a.numeric.edges != b.numeric.edges:
            raise ProfileError(f"feature {a.name!r}: bin edges differ; build with like=<profile>")
        na, nb = sum(a.numeric.counts), sum(b.numeric.counts)
        total = max(na + nb, 1.0)
        mean = (na * a.numeric.mean + nb * b.numeric.mean) / total
        var = (
            na * (a.numeric.std**2 + (a.numeric.mean - mean) ** 2)
            + nb * (b.numeric.std**2 + (b.numeric.mean - mean) ** 2)
        ) / total
        update["numeric"] = a.numeric.model_copy(
            update={
                "counts": [x + y for x, y in zip(a.numeric.counts, b.numeric.counts, strict=True)],
                "min": min(a.numeric.min, b.numeric.min),
                "max": max(a.numeric.max, b.numeric.max),
                "mean": mean,
                "std": float(np.sqrt(var)),
                "quantiles": a.numeric.quantiles,
            }
        )
    elif a.categorical is not None and b.categorical is not None:
        if a.categorical.categories != b.categorical.categories:
            raise ProfileError(f"feature {a.name!r}: categories differ; build with like=<profile>")
        known = None
        if a.categorical.known is not None and b.categorical.known is not None:
            known = sorted(set(a.categorical.known) | set(b.categorical.known))
        update["categorical"] = a.categorical.model_copy(
            update={
                "counts": [x + y for x, y in zip(a.categorical.counts, b.categorical.counts, strict=True)],
                "known": known,
                "n_distinct": max(a.categorical.n_distinct, b.categorical.n_distinct),
            }
        )
    return a.model_copy(update=update)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
