"""Configuration of the ``drift`` processor, validated with pydantic like every component's."""

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from modeltel.collector.component import ComponentConfig
from modeltel.drift import DriftSettings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or a Go-style duration string: "500ms", "2s", "5m", "1h"."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '5m'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise ValueError(f"not a duration: {value!r} (use seconds or e.g. '500ms', '2s', '5m', '1h')")


def format_duration(seconds: float) -> str:
    """The shortest exact label for a duration: 300 -> "5m", 3600 -> "1h", 2 -> "2s"."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{round(seconds * 1000)}ms"


Duration = Annotated[float, BeforeValidator(parse_duration)]


class DriftConfig(ComponentConfig):
    window: Duration = Field(default=300.0, gt=0, description="Tumbling event-time window length.")
    long_window: Duration = Field(
        default=3600.0,
        gt=0,
        description="Longer view: the merge of the last long_window/window closed windows.",
    )
    allowed_lateness: Duration = Field(
        default=60.0, ge=0, description="How far behind the newest event time a record may arrive."
    )
    max_clock_skew: Duration = Field(
        default=300.0,
        gt=0,
        description="Records stamped further than this ahead of the wall clock are refused.",
    )
    profiles_dir: Path | None = Field(default=None, description="Directory of reference profiles (*.json).")
    bootstrap_records: int = Field(
        default=10_000,
        ge=0,
        description="Without a profile, the first N records become the reference (0: never bootstrap).",
    )
    prediction_column: str = Field(default="prediction", description="Column name of the body's prediction.")
    probability_prefix: str = Field(
        default="proba_", description="Column name prefix of each class probability."
    )
    state_dir: Path | None = Field(
        default=None, description="Where windows are checkpointed; none: not kept."
    )
    checkpoint_interval: Duration = Field(default=30.0, gt=0)
    max_models: int = Field(default=100, ge=1, description="Distinct (model, version) streams tracked.")
    persistence_k: int = Field(default=2, ge=1, description="Alarm when >= k of the last m windows drifted.")
    persistence_m: int = Field(default=3, ge=1)
    flush_records: int = Field(
        default=4096, ge=1, description="Records a window buffers before counting them in one engine call."
    )
    exemplar_samples: int = Field(
        default=32, ge=0, description="Records per flush whose trace ids are kept for the most-shifted bins."
    )
    segment_by: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Record attributes or features whose values get their own drift windows "
        "(resolved like the performance processor's segment_by).",
    )
    max_segment_values: int = Field(
        default=20, ge=1, le=1000, description="Distinct values per segment attribute before '_other'."
    )
    settings: dict[str, float] = Field(default_factory=dict, description="DriftSettings overrides.")

    @model_validator(mode="after")
    def _consistent(self) -> "DriftConfig":
        if self.long_window < self.window:
            raise ValueError("long_window must be at least window")
        if self.persistence_k > self.persistence_m:
            raise ValueError("persistence_k must be at most persistence_m")
        if len(set(self.segment_by)) != len(self.segment_by):
            raise ValueError("segment_by names must be distinct")
        self.drift_settings()  # unknown or invalid settings fail at load time
        return self

    @property
    def long_windows(self) -> int:
        """Closed tumbling windows merged into the long view."""
        return max(1, round(self.long_window / self.window))

    def drift_settings(self) -> DriftSettings:
        try:
            return DriftSettings(**self.settings)
        except TypeError as error:
            raise ValueError(f"settings: {error}") from None
