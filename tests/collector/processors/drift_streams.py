"""Seeded prediction streams and reference profiles for the drift processor's tests."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from modeltel.agent.telemetry.encoding import any_value
from modeltel.drift import Profile, build_profile
from tests.collector.otlp_batches import logs_request, prediction_record

NUMERIC = [f"x{i}" for i in range(6)]
CITIES = np.array(["a", "b", "c", "d"])
CITY_P = np.array([0.4, 0.3, 0.2, 0.1])
DRIFTED_CITY_P = np.array([0.2, 0.3, 0.2, 0.3])


def sample(rows: int, seed: int, drifted: bool = False) -> dict[str, list]:
    """Columns of a seeded stream; ``drifted`` shifts x0 by 0.5 sd and moves the city mix."""
    rng = np.random.default_rng(seed)
    data: dict[str, list] = {name: rng.normal(size=rows).round(5).tolist() for name in NUMERIC}
    if drifted:
        data["x0"] = (np.asarray(data["x0"]) + 0.5).tolist()
    data["city"] = rng.choice(CITIES, size=rows, p=DRIFTED_CITY_P if drifted else CITY_P).tolist()
    score = 1 / (1 + np.exp(-(np.asarray(data["x0"]) + np.asarray(data["x1"]))))
    data["prediction"] = (score > 0.5).astype(int).tolist()
    data["proba_1"] = score.round(5).tolist()
    data["proba_0"] = (1 - score).round(5).tolist()
    return data


def write_profile(directory: Path, model: str = "churn", version: str = "3", rows: int = 20_000) -> Profile:
    profile = build_profile(
        sample(rows, seed=1), model=model, version=version,
        prediction_columns=["prediction"], score_columns=["proba_0", "proba_1"],
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    profile.save(directory / f"{model}-{version}.json")
    return profile


def trace_id(tag: int, i: int) -> bytes:
    """A recognisable trace id: first byte ``tag``, then the row number."""
    return bytes([tag]) + i.to_bytes(15, "big")


def batch(
    data: dict[str, list],
    times: np.ndarray,
    model: str = "churn",
    version: str = "3",
    tag: int = 1,
    sample_rate: float | None = None,
    overrides: dict[int, dict] | None = None,
    attributes: Sequence[dict[str, Any]] | None = None,
) -> ExportLogsServiceRequest:
    """One OTLP logs request, a record per row; ``overrides`` replaces features of some rows,
    ``attributes`` adds record attributes per row (str, int, float or bool values)."""
    records = []
    for i in range(len(times)):
        features = {name: data[name][i] for name in [*NUMERIC, "city"]}
        features.update((overrides or {}).get(i, {}))
        records.append(
            prediction_record(
                features,
                data["prediction"][i],
                model=model,
                version=version,
                time_unix_nano=int(times[i]),
                trace_id=trace_id(tag, i),
                sample_rate=sample_rate,
                probabilities={"0": data["proba_0"][i], "1": data["proba_1"][i]},
            )
        )
        for key, value in (attributes[i] if attributes is not None else {}).items():
            records[-1].attributes.append(KeyValue(key=key, value=any_value(value)))
    return logs_request(records)
