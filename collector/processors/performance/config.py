"""Configuration of the ``performance`` processor (docs/performance.md, "Streaming performance processor")."""

from pathlib import Path

from pydantic import Field, field_validator

from modeltel.collector.component import ComponentConfig
from modeltel.collector.processors.drift.config import Duration

DAY = 86400.0


class PerformanceConfig(ComponentConfig):
    state_dir: Path | None = Field(
        default=None,
        description="Directory of the join store (<state_dir>/<component id>.sqlite); none: a temporary "
        "directory removed at shutdown, so nothing survives a restart.",
    )
    fsync: bool = Field(
        default=False, description="synchronous=FULL: survive power loss, at a cost per batch."
    )
    prediction_ttl: Duration = Field(
        default=30 * DAY, gt=0, description="How long a prediction is kept after it arrived, labelled or not."
    )
    label_ttl: Duration = Field(
        default=DAY, gt=0, description="How long a label whose prediction has not arrived is held."
    )
    max_predictions: int = Field(
        default=5_000_000, ge=1, description="Predictions kept; beyond it the oldest are evicted (counted)."
    )
    max_pending_labels: int = Field(
        default=1_000_000, ge=1, description="Labels waiting for their prediction; oldest evicted beyond it."
    )
    windows: list[Duration] = Field(
        default_factory=lambda: [DAY, 7 * DAY, 30 * DAY],
        min_length=1,
        max_length=6,
        description="Trailing horizons by prediction time, ending at the stream's newest prediction.",
    )
    evaluation_interval: Duration = Field(
        default=30.0, gt=0, description="How often streams with new predictions or labels are re-evaluated."
    )
    expiry_interval: Duration = Field(default=60.0, gt=0, description="How often TTLs are enforced.")
    profiles_dir: Path | None = Field(
        default=None, description="Reference profiles (*.json), looked up like the drift processor's."
    )
    estimation_band_rows: int = Field(
        default=5000,
        ge=100,
        description="Rows the estimate's band simulation uses at most (its spread is scaled to the window).",
    )
    segment_by: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Record attributes or features whose values split performance into segments.",
    )
    max_segment_values: int = Field(
        default=20, ge=1, le=1000, description="Distinct values per segment attribute before '_other'."
    )
    max_models: int = Field(default=100, ge=1, description="Distinct (model, version) streams tracked.")
    max_label_request_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="Largest POST /api/v1/labels body (413 beyond)."
    )
    max_labels_per_request: int = Field(
        default=10_000, ge=1, description="Most items in one POST /api/v1/labels (413 beyond)."
    )
    max_clock_skew: Duration = Field(
        default=300.0, gt=0, description="Label timestamps further ahead of the wall clock are refused."
    )

    @field_validator("windows")
    @classmethod
    def _distinct(cls, windows: list[float]) -> list[float]:
        if len(set(windows)) != len(windows):
            raise ValueError("windows must be distinct")
        return sorted(windows)
