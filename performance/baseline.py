"""The ``performance`` section of a reference profile: what the model achieved on its
labelled reference, and what estimation needs (classes, calibration, band constants).

Kept apart from the drift profile's bins so old profiles (without it) still load and a
profile of unlabelled data simply has none."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modeltel.performance.calibration import CalibrationMap

Task = Literal["classification", "regression"]
HIGHER_IS_BETTER = frozenset(
    {"accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "r2"}
)
"""Every other metric (log_loss, calibration_error, mae, rmse, mape) is better lower."""


class PerformanceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: Task
    target: str = Field(description="Reference column holding the labels.")
    prediction: str | None = Field(
        None, description="Reference column of predictions (None: argmax of proba)."
    )
    probability_prefix: str = Field("proba_", description="Per-class probability columns: prefix + class.")
    classes: list[str] = Field(default_factory=list, description="Canonical class labels, sorted.")
    positive: str | None = Field(None, description="Positive class of a binary classifier.")
    rows: float = Field(description="Labelled reference rows the baseline is computed on.")
    baseline: dict[str, float] = Field(description="Realized metrics on the reference.")
    baseline_sd: dict[str, float] = Field(
        default_factory=dict,
        description="Band constants: the metric's standard deviation times sqrt(rows) over reference "
        "chunks, so its standard error at n rows is baseline_sd / sqrt(n).",
    )
    calibration: dict[str, CalibrationMap] | None = Field(
        None,
        description="Isotonic map per class (binary: the positive class only, all rows; multiclass: "
        "fitted on the rows predicted as that class); None: no probabilities.",
    )
    calibration_other: dict[str, CalibrationMap] | None = Field(
        None, description="Multiclass: each class's map fitted on the rows predicted as another class."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PerformanceProfile:
        if self.task == "classification":
            if len(self.classes) < 2:
                raise ValueError("a classification baseline needs at least two classes")
            if len(self.classes) == 2 and self.positive not in self.classes:
                raise ValueError(f"positive class {self.positive!r} is not one of {self.classes}")
            for maps in (self.calibration, self.calibration_other):
                if maps is not None and not set(maps) <= set(self.classes):
                    raise ValueError("calibration maps for classes the profile does not have")
        return self

    @property
    def binary(self) -> bool:
        return self.task == "classification" and len(self.classes) == 2

    @property
    def estimable(self) -> bool:
        """Whether label-free estimation is possible (a classifier with calibrated probabilities)."""
        return self.task == "classification" and self.calibration is not None

    def probability_columns(self) -> dict[str, str]:
        """Reference/check column name of each class's probability."""
        return {c: f"{self.probability_prefix}{c}" for c in self.classes}

    def standard_error(self, metric: str, n: float) -> float | None:
        """Sampling standard error of the realized ``metric`` at ``n`` rows (from the band constants)."""
        sd = self.baseline_sd.get(metric)
        if sd is None or n <= 0:
            return None
        return sd / math.sqrt(n)


def performance_of(profile: Any) -> PerformanceProfile | None:
    """The profile's performance section, or None (no labelled reference, or an old profile)."""
    return getattr(profile, "performance", None)
