"""Probability calibration maps: isotonic regression fitted on the labelled reference, stored
as at most ``MAX_KNOTS`` (score, probability) knots and applied by linear interpolation.

Why isotonic: it assumes only that a higher score means a higher chance of the class (what
any classifier's ranking promises), needs no parametric shape (Platt's sigmoid misfits
boosted trees and already-calibrated models alike), and leaves a well calibrated model
nearly unchanged. Outside the reference's score range the end values hold.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.optimize import isotonic_regression

MAX_KNOTS = 100
"""Knots kept per class: ~2 kB of JSON per class, and interpolation error below ~1/MAX_KNOTS."""


class CalibrationMap(BaseModel):
    """Monotone map from a model's raw probability of one class to the observed rate."""

    model_config = ConfigDict(extra="forbid")
    knots: list[float] = Field(description="Raw probabilities, strictly increasing.")
    values: list[float] = Field(description="Calibrated probability at each knot, non-decreasing.")

    @model_validator(mode="after")
    def _shape(self) -> CalibrationMap:
        if len(self.knots) != len(self.values) or not self.knots:
            raise ValueError("knots and values must be non-empty and of one length")
        if any(b <= a for a, b in zip(self.knots, self.knots[1:], strict=False)):
            raise ValueError("knots must be strictly increasing")
        if any(not 0.0 <= v <= 1.0 for v in self.values):
            raise ValueError("calibrated values must lie in [0, 1]")
        return self

    def apply(self, score: np.ndarray) -> np.ndarray:
        return np.interp(score, self.knots, self.values)


def _smoothed(fitted: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Each isotonic block's rate with one extra row at the overall rate r,
    (hits + r) / (rows + 1): a block that was all 0 or all 1 on the reference becomes
    r/(m+1) (or 1 - (1-r)/(m+1)) from the end, not a certainty, so the bands of rows there do
    not collapse to nothing; shrinking towards r rather than 1/2 keeps the bias of small pure
    blocks (common near 1 for accurate models) below (1-r)/(m+1). A running maximum restores
    monotonicity where a small block moved past a large one."""
    overall = float(np.dot(fitted, mass) / mass.sum())
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    block_mass = np.add.reduceat(mass, starts)
    smoothed = (fitted[starts] * block_mass + overall) / (block_mass + 1.0)
    return np.maximum.accumulate(np.repeat(smoothed, np.diff(np.r_[starts, fitted.size])))


def fit_calibration(score: np.ndarray, hit: np.ndarray, weights: np.ndarray) -> CalibrationMap:
    """Weighted isotonic fit of ``hit`` (bool) on ``score``; ties in the score are pooled first."""
    distinct, group = np.unique(score, return_inverse=True)
    mass = np.bincount(group, weights=weights, minlength=distinct.size)
    rate = np.bincount(group, weights=weights * hit, minlength=distinct.size)
    keep = mass > 0
    distinct, mass, rate = distinct[keep], mass[keep], rate[keep] / mass[keep]
    fitted = isotonic_regression(rate, weights=mass, increasing=True).x
    fitted = _smoothed(fitted, mass)
    if distinct.size > MAX_KNOTS:
        # Knots at the block ends carry the step function; thin them evenly by rank.
        ends = np.flatnonzero(np.diff(fitted) != 0)
        chosen = np.unique(np.concatenate([[0, distinct.size - 1], ends, ends + 1]))
        if chosen.size > MAX_KNOTS:
            chosen = chosen[np.unique(np.linspace(0, chosen.size - 1, MAX_KNOTS).round().astype(int))]
        distinct, fitted = distinct[chosen], fitted[chosen]
    return CalibrationMap(knots=distinct.tolist(), values=np.clip(fitted, 0.0, 1.0).tolist())
