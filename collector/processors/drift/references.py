"""Where each (model, version)'s reference comes from: a profiles directory, or its first records.

A profiles directory holds ``modeltel profile build`` outputs (``*.json``); each is indexed by
the ``model``/``version`` it was built with. A stream with no profile there bootstraps one from
its first ``bootstrap_records`` records: drift is then measured *relative to those first
records*, which are the reference and are not themselves tested. The bootstrap buffer keeps
raw values (bounded by N), and is checkpointed like the windows.
"""

import logging
from pathlib import Path
from typing import Any

import orjson

from modeltel.collector.processors.drift.columns import output_columns
from modeltel.collector.processors.drift.records import Rows
from modeltel.drift import Profile, ProfileError, build_profile

_log = logging.getLogger("modeltel.collector")


def load_profiles(directory: Path | None) -> dict[tuple[str, str], Profile]:
    """Every readable profile of ``directory`` by (model, version); unreadable ones are logged."""
    profiles: dict[tuple[str, str], Profile] = {}
    if directory is None:
        return profiles
    if not directory.is_dir():
        _log.warning("drift: profiles_dir %s is not a directory; every model will bootstrap", directory)
        return profiles
    for path in sorted(directory.glob("*.json")):
        try:
            profile = Profile.load(path)
        except (ProfileError, OSError, ValueError) as error:
            _log.warning("drift: profile %s ignored: %s", path, error)
            continue
        key = (profile.model, profile.version)
        if key in profiles:
            _log.warning("drift: profile %s duplicates model %r version %r; first one kept", path, *key)
            continue
        profiles[key] = profile
    _log.info("drift: %d reference profile(s) from %s", len(profiles), directory)
    return profiles


class Bootstrap:
    """The first N records of a stream without a profile, kept raw until the profile is built."""

    def __init__(self, model: str, version: str, size: int, prediction_column: str, prefix: str) -> None:
        self.model, self.version, self.size = model, version, size
        self._prediction_column, self._prefix = prediction_column, prefix
        self.features: list[dict[str, Any]] = []
        self.predictions: list[Any] = []
        self.probabilities: list[Any] = []

    def __len__(self) -> int:
        return len(self.features)

    def take(self, rows: Rows) -> int:
        """Keep as many rows as the reference still needs; returns how many were taken."""
        taken = min(len(rows), self.size - len(self.features))
        for text in rows.texts[:taken]:  # the records' raw values, once per reference record
            payload = orjson.loads(text)
            self.features.append(payload["features"])
            self.predictions.append(payload.get("prediction"))
            self.probabilities.append(payload.get("probabilities"))
        return taken

    @property
    def full(self) -> bool:
        return len(self.features) >= self.size

    def build(self) -> Profile:
        names: dict[str, None] = {}
        for features in self.features:
            names.update(dict.fromkeys(features))
        columns: dict[str, list] = {name: [f.get(name) for f in self.features] for name in names}
        outputs = output_columns(self.predictions, self.probabilities, self._prediction_column, self._prefix)
        columns.update(outputs)
        prediction = [self._prediction_column] if self._prediction_column in outputs else []
        scores = [name for name in outputs if name != self._prediction_column]
        return build_profile(
            columns,
            model=self.model,
            version=self.version,
            prediction_columns=prediction,
            score_columns=scores,
        )

    def state(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "predictions": self.predictions,
            "probabilities": self.probabilities,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.features = list(state["features"])[: self.size]
        self.predictions = list(state["predictions"])[: self.size]
        self.probabilities = list(state["probabilities"])[: self.size]
