"""What the engine concludes about one window: per feature, per model. Plain dataclasses with a
JSON-ready ``to_dict`` (the CLI's JSON, the processor's metrics and status API read these)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Quality:
    """Data-quality figures of one feature; each its own metric, apart from drift."""

    missing_ratio: float = 0.0  # None / NaN / absent key, over the window's rows
    reference_missing_ratio: float = 0.0
    nonfinite_ratio: float = 0.0  # +-inf and the wire strings "NaN"/"Infinity"/"-Infinity"
    type_error_ratio: float = 0.0  # strings in numeric features, bools, lists, dicts
    out_of_range_ratio: float | None = None  # valid numbers outside the reference [min, max]
    new_category_ratio: float | None = None  # None when the reference kept too many categories
    new_categories: list[str] = field(default_factory=list)
    constant: bool = False  # one value all window long, when the reference had several
    absent: bool = False  # the feature never appeared in the window (schema)
    issues: list[str] = field(default_factory=list)


@dataclass
class FeatureReport:
    name: str
    kind: str
    role: str
    rows: float  # weighted rows of the window
    valid: float  # weighted rows with a usable value
    n_eff: float  # effective n of those (Kish), what the test uses
    tested: bool  # False: identifier, or no valid values on one side
    statistic: str = "chi2_divergence"
    score: float = 0.0  # divergence D = X^2 / n_h, the alarm statistic (~PSI for small shifts)
    threshold: float = math.inf  # drifted <=> score >= threshold
    p_value: float = 1.0
    alpha: float = 0.0  # BH level the p-value was compared with
    chi2: float = 0.0
    df: int = 0
    min_effect: float = 0.0
    drifted: bool = False
    psi: float = 0.0
    jensen_shannon: float = 0.0
    hellinger: float = 0.0
    ks: float | None = None  # numeric only (binned, a lower bound of the exact KS)
    wasserstein: float | None = None  # numeric only (binned, in reference standard deviations)
    quality: Quality = field(default_factory=Quality)
    bins: list[str] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)  # reference proportion per bin
    current: list[float] = field(default_factory=list)  # window proportion per bin


@dataclass
class MultivariateReport:
    features: list[str]
    score: float  # divergence D of the reconstruction-error distribution
    threshold: float
    p_value: float
    drifted: bool
    error_ratio: float  # window mean reconstruction error / reference mean (1 = same)


@dataclass
class ModelReport:
    model: str
    version: str
    rows: float
    records: int
    features: list[FeatureReport]
    drifted_features: list[str]
    drift_share: float  # drifted input features / tested input features
    dataset_drift: bool
    prediction_drift: bool  # any output column (prediction, score) drifted
    multivariate: MultivariateReport | None
    missing_features: list[str]  # in the profile, absent from the window (schema)
    unexpected_features: list[str]  # in the window, not in the profile (schema)
    quality_issues: int  # features with at least one quality issue, plus schema changes
    settings: dict[str, Any] = field(default_factory=dict)

    def feature(self, name: str) -> FeatureReport:
        for report in self.features:
            if report.name == name:
                return report
        raise KeyError(name)

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_features) or self.dataset_drift

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))


def _finite(value: Any) -> Any:
    """JSON has no infinity: an unreachable threshold is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
