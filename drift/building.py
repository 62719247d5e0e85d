"""Build a reference profile from a table: infer each column's kind, bin it, fit the PCA.

Kinds: strings and bools are categorical, never numeric; numbers with at most
``MAX_DISCRETE`` distinct values are discrete (one bin per value); integer columns named like
ids whose values are all distinct are identifiers (schema only); other numbers are numeric
with quantile bins. ``categorical=`` forces a column categorical.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import numpy as np

from modeltel.drift import columns as col
from modeltel.drift.binning import DEFAULT_BINS, MAX_DISCRETE, bin_counts, numeric_edges
from modeltel.drift.counts import projection_error
from modeltel.drift.profile import (
    CategoricalBins,
    FeatureProfile,
    MultivariateProfile,
    NumericBins,
    Profile,
    ProfileError,
    Role,
)
from modeltel.drift.tables import TableColumn, columns
from modeltel.performance.baseline import PerformanceProfile, Task

MAX_CATEGORIES = 100
"""Categories with their own bin; the rest share the "other" bin."""
MIN_CATEGORY_COUNT = 5
"""Count (in the choosing half) a category needs for its own bin."""
MAX_KNOWN = 10_000
"""Reference categories remembered (so unseen ones count as new); beyond, new-category ratio is off."""
PCA_VARIANCE = 0.8
"""Share of the standardised variance the principal subspace keeps; the rest is the error."""
PCA_MAX_ROWS = 200_000
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}


def _is_identifier(column: TableColumn, distinct: int, valid: int) -> bool:
    name = column.name.lower()
    named = name == "id" or name.endswith(("_id", "id", "uuid", "_key"))
    return named and valid >= 50 and distinct == valid


def _numeric_feature(
    column: TableColumn, role: Role, n_bins: int, like: FeatureProfile | None
) -> FeatureProfile:
    x, status = col.numeric(column.values, parse_strings=True)
    if status is None:
        tally, finite = np.array([x.size, 0, 0, 0]), x
    else:
        tally, finite = np.bincount(status, minlength=4), x[status == col.VALID]
    if like is not None and like.numeric is not None:
        edges, kind = np.asarray(like.numeric.edges), like.kind
    else:
        edges, discrete = numeric_edges(finite, n_bins, MAX_DISCRETE)
        kind = "discrete" if discrete else "numeric"
        if (
            not discrete
            and column.logical == "integer"
            and _is_identifier(column, np.unique(finite).size, finite.size)
        ):
            kind = "identifier"
    base = {
        "name": column.name,
        "role": role,
        "dtype": column.dtype,
        "rows": float(x.size),
        "missing": float(tally[col.MISSING]),
        "nonfinite": float(tally[col.NONFINITE]),
        "type_errors": float(tally[col.TYPE_ERROR]),
    }
    if kind == "identifier":
        return FeatureProfile(kind="identifier", **base)
    empty = finite.size == 0
    numeric = NumericBins(
        edges=edges.tolist(),
        counts=bin_counts(finite, edges).tolist(),
        min=0.0 if empty else float(finite.min()),
        max=0.0 if empty else float(finite.max()),
        mean=0.0 if empty else float(finite.mean()),
        std=0.0 if empty else float(finite.std()),
        quantiles={}
        if empty
        else dict(zip(QUANTILES, np.quantile(finite, list(QUANTILES.values())).tolist(), strict=True)),
    )
    return FeatureProfile(kind=kind, numeric=numeric, **base)


def _category_tally(values: np.ndarray) -> tuple[Counter, int, int]:
    """Count per category, missing values and type errors (lists, dicts). Counts raw values
    at C speed first and canonicalises each distinct value once (so 5 and 5.0 are one)."""
    try:
        raw = Counter(values.tolist())
    except TypeError:  # unhashable values: count their string form, as type errors below
        raw = Counter(v if _hashable(v) else _Unhashable(repr(v)) for v in values.tolist())
    tally: Counter = Counter()
    missing = errors = 0
    for value, count in raw.items():
        if isinstance(value, _Unhashable):
            errors += count
            continue
        try:
            key = col.category_key(value)
        except TypeError:
            errors += count
            continue
        if key is None:
            missing += count
        else:
            tally[key] += count
    return tally, missing, errors


class _Unhashable(str):
    """Stands for a list/dict value in a tally; category_key rejects it as a type error."""


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _categorical_feature(
    column: TableColumn, role: Role, max_categories: int, like: FeatureProfile | None, seed: int
) -> FeatureProfile:
    """Categories with their own bin are chosen on one random half of the reference and
    counted on the other: choosing and counting on the same rows would favour categories
    that came out high by chance (and starve "other"), which alarms on unseen categories
    that are merely rare. Unbiased counts cost half the reference n, little power."""
    tally, missing, errors = _category_tally(column.values)
    valid = sum(tally.values())
    base = {
        "name": column.name,
        "role": role,
        "dtype": column.dtype,
        "rows": float(len(column.values)),
        "missing": float(missing),
        "type_errors": float(errors),
    }
    if like is None and column.logical == "string" and _is_identifier(column, len(tally), valid):
        return FeatureProfile(kind="identifier", **base)
    if like is not None and like.categorical is not None:
        top = list(like.categorical.categories)
        counted = tally
    else:
        half = np.random.default_rng(seed).random(len(column.values)) < 0.5
        chooser = _category_tally(column.values[half])[0]
        counted = _category_tally(column.values[~half])[0]
        top = [name for name, count in chooser.most_common(max_categories) if count >= MIN_CATEGORY_COUNT]
    counts = [float(counted.get(name, 0)) for name in top]
    counts.append(float(sum(counted.values()) - sum(counts)))
    chosen = set(top)
    rest = [name for name in tally if name not in chosen]
    categorical = CategoricalBins(
        categories=top,
        counts=counts,
        known=sorted(rest) if len(tally) <= MAX_KNOWN else None,
        n_distinct=len(tally),
        singletons=sum(1 for c in tally.values() if c == 1),
    )
    return FeatureProfile(kind="categorical", categorical=categorical, **base)


def _multivariate(
    features: list[FeatureProfile], table: dict[str, TableColumn], seed: int
) -> MultivariateProfile | None:
    """PCA on one random half of the complete reference rows, error bins from the other half."""
    names = [f.name for f in features if f.role == "feature" and f.kind in ("numeric", "discrete")]
    if len(names) < 2:
        return None
    specs = {f.name: f.numeric for f in features}
    center = np.array([specs[n].mean for n in names])
    scale = np.array([specs[n].std or 1.0 for n in names])
    z = np.column_stack([col.numeric(table[n].values, parse_strings=True)[0] for n in names])
    z = (z - center) / scale
    z = z[np.isfinite(z).all(axis=1)]  # complete rows only, as windows do
    if z.shape[0] < 20:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(z.shape[0])
    half = z.shape[0] // 2
    fit, held = z[order[: min(half, PCA_MAX_ROWS)]], z[order[half:]]
    _, singular, vt = np.linalg.svd(fit - fit.mean(axis=0), full_matrices=False)
    variance = singular**2
    share = np.cumsum(variance) / variance.sum() if variance.sum() > 0 else np.ones_like(variance)
    k = min(int(np.searchsorted(share, PCA_VARIANCE) + 1), len(names) - 1)
    components = vt[:k]
    error = projection_error(held, components)
    edges, _ = numeric_edges(error, DEFAULT_BINS, MAX_DISCRETE)
    bins = NumericBins(
        edges=edges.tolist(),
        counts=bin_counts(error, edges).tolist(),
        min=float(error.min()),
        max=float(error.max()),
        mean=float(error.mean()),
        std=float(error.std()),
    )
    return MultivariateProfile(
        features=names,
        center=center.tolist(),
        scale=scale.tolist(),
        components=components.tolist(),
        explained_variance_ratio=float(share[k - 1]),
        error=bins,
    )


def build_profile(
    data: Any,
    *,
    model: str = "",
    version: str = "",
    categorical: Iterable[str] = (),
    exclude: Iterable[str] = (),
    prediction_columns: Iterable[str] = (),
    score_columns: Iterable[str] = (),
    target_column: str | None = None,
    n_bins: int = DEFAULT_BINS,
    max_categories: int = MAX_CATEGORIES,
    like: Profile | None = None,
    seed: int = 0,
    task: Task | None = None,
    positive_class: Any = None,
    probability_prefix: str = "proba_",
) -> Profile:
    """Profile of ``data`` (path to Parquet/CSV, pandas DataFrame, pyarrow Table, mapping).

    ``like`` reuses another profile's kinds, edges and categories so the two can be merged.
    With ``target_column`` the profile also gets a ``performance`` section (baseline metrics,
    calibration; ``task`` and ``positive_class`` inferred unless given, docs/performance.md)."""
    table = {c.name: c for c in columns(data)}
    forced = set(categorical)
    roles: dict[str, Role] = {name: "prediction" for name in prediction_columns}
    roles.update({name: "score" for name in score_columns})
    if target_column:
        roles[target_column] = "target"
    named = forced | set(roles) | set(exclude)
    unknown = sorted(named - set(table))
    if unknown:
        raise ProfileError(f"no such column: {', '.join(unknown)} (columns: {', '.join(table)})")
    excluded = set(exclude)
    features: list[FeatureProfile] = []
    for name, column in table.items():
        if name in excluded:
            continue
        role = roles.get(name, "feature")
        previous = like.feature(name) if like is not None and name in like.names else None
        as_categorical = (
            previous.kind == "categorical"
            if previous is not None
            else name in forced or column.logical in ("string", "bool", "other")
        )
        if as_categorical:
            features.append(_categorical_feature(column, role, max_categories, previous, seed))
        else:
            features.append(_numeric_feature(column, role, n_bins, previous))
    rows = max((len(c.values) for c in table.values()), default=0)
    if like is not None and like.multivariate is not None:
        multivariate = like.multivariate
    else:
        multivariate = _multivariate(features, table, seed)
    performance = _performance(
        table, target_column, list(prediction_columns), task, positive_class, probability_prefix, seed
    )
    return Profile(
        model=model,
        version=version,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        rows=float(rows),
        features=_output_roles(features, performance),
        multivariate=multivariate,
        performance=performance,
    )


def _output_roles(
    features: list[FeatureProfile], performance: PerformanceProfile | None
) -> list[FeatureProfile]:
    """The columns the performance baseline read as the model's outputs (its prediction and
    ``proba_<class>`` columns) get the output roles even when not named with
    ``--prediction-column``/``--score-column``: they are not inputs, and the drift processor
    reads them from the body's ``prediction`` and ``probabilities``, not its ``features``."""
    if performance is None:
        return features
    outputs = {name: "score" for name in performance.probability_columns().values()}
    if performance.prediction is not None:
        outputs[performance.prediction] = "prediction"
    return [
        f.model_copy(update={"role": outputs[f.name]}) if f.role == "feature" and f.name in outputs else f
        for f in features
    ]


def _performance(
    table: dict[str, TableColumn], target: str | None, predictions: list[str], task: Task | None,
    positive: Any, prefix: str, seed: int,
) -> PerformanceProfile | None:  # fmt: skip
    """The labelled reference's performance section; None without a target column."""
    if not target:
        return None
    # Imported here: modeltel.performance reads labels with modeltel.drift.columns, so importing
    # it at the top would make the two packages' imports circular.
    from modeltel.performance.building import build_performance
    from modeltel.performance.labels import PerformanceInputError

    prediction = predictions[0] if predictions else ("prediction" if "prediction" in table else None)
    try:
        return build_performance(
            table, target, prediction, probability_prefix=prefix, task=task, positive=positive, seed=seed
        )
    except PerformanceInputError as error:
        raise ProfileError(f"performance baseline: {error}") from None
