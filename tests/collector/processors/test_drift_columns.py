"""The drift processor's column building (typed msgspec decode, orjson for what it refuses)
gives exactly the counts of the straightforward reading of the wire: every body decoded with
orjson, each feature's raw values handed to the engine. Seeded mixed bodies carry every bad
value kind; clean and learned-key flushes take the fast path and must agree just the same."""

import json

import numpy as np
import orjson
import pytest

from modeltel.collector.processors.drift.columns import CHUNK, ColumnBuilder
from modeltel.drift import Profile, WindowCounts, build_profile, evaluate

NUMERIC = [f"x{i}" for i in range(8)]
BAD_NUMBERS = [None, "NaN", "Infinity", "-Infinity", "nan", "abc", "1.5", "", True, False, [1.0], {"a": 1},
               7, -3, 2**63 + 5, 2**70, 1e300]  # fmt: skip
BAD_CATEGORIES = [None, 5, 5.0, 2.5, True, ["a"], {"b": 1}, "zzz", ""]


@pytest.fixture(scope="module")
def profile() -> Profile:
    rng = np.random.default_rng(3)
    n = 5_000
    data: dict = {name: rng.normal(size=n) for name in NUMERIC}
    data["k"] = rng.integers(0, 5, n)  # discrete
    data["city"] = rng.choice(["paris", "rome", "oslo", "lima"], n, p=[0.4, 0.3, 0.2, 0.1])
    data["user"] = np.array([f"u{i}" for i in range(n)])  # identifier: schema only
    score = 1 / (1 + np.exp(-data["x0"]))
    data.update(prediction=(score > 0.5).astype(int), proba_0=1 - score, proba_1=score)
    return build_profile(
        data, model="m", version="1", prediction_columns=["prediction"], score_columns=["proba_0", "proba_1"]
    )


def clean_body(rng: np.random.Generator, i: int) -> dict:
    features = {name: round(float(rng.normal()), 6) for name in NUMERIC}
    features.update(
        k=int(rng.integers(0, 5)), city=str(rng.choice(["paris", "rome", "oslo", "lima"])), user=f"u{i}"
    )
    p = float(rng.random())
    return {"features": features, "prediction": int(p > 0.5), "probabilities": {"0": 1 - p, "1": p}}


def mixed_bodies(rows: int, seed: int, bad_share: float) -> list[bytes]:
    """Seeded bodies; about ``bad_share`` of them break in one of many ways."""
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(rows):
        body = clean_body(rng, i)
        features = body["features"]
        if rng.random() < bad_share:
            kind = int(rng.integers(9))
            name = str(rng.choice(NUMERIC))
            if kind == 0:
                features[name] = BAD_NUMBERS[int(rng.integers(len(BAD_NUMBERS)))]
            elif kind == 1:
                del features[name]  # a missing key: missing in this row
            elif kind == 2:
                features["city"] = BAD_CATEGORIES[int(rng.integers(len(BAD_CATEGORIES)))]
            elif kind == 3:
                features[f"extra{int(rng.integers(3))}"] = float(rng.normal())  # unexpected key
            elif kind == 4:
                body["probabilities"] = [1 - body["probabilities"]["1"], body["probabilities"]["1"]]
            elif kind == 5:
                del body["probabilities"]
            elif kind == 6:
                del body["prediction"]  # prediction_missing: still used for its features
            elif kind == 7:
                body["probabilities"] = {"1": "high"}
            else:
                features["k"] = str(rng.choice(["3", "x", None]))
        elif rng.random() < 0.05:
            features[str(rng.choice(NUMERIC))] = None  # nulls stay on the fast path
        texts.append(encode(body))
    return texts


def encode(body: dict) -> bytes:
    return json.dumps(body).encode()  # not orjson: it refuses ints beyond 64 bits


def reference_columns(texts: list[bytes], builder: ColumnBuilder) -> dict[str, list]:
    """The straightforward reading: orjson payloads, raw values per key seen in any row."""
    payloads = [orjson.loads(text) for text in texts]
    seen: dict[str, None] = {}
    for payload in payloads:
        seen.update(dict.fromkeys(payload["features"]))
    columns = {name: [p["features"].get(name) for p in payloads] for name in seen}
    predictions = [p.get("prediction") for p in payloads]
    if any(v is not None for v in predictions):
        columns["prediction"] = predictions
    for column, key in builder.scores.items():
        values = []
        for p in payloads:
            probabilities = p.get("probabilities")
            if isinstance(probabilities, dict):
                values.append(probabilities.get(key))
            elif isinstance(probabilities, list) and int(key) < len(probabilities):
                values.append(probabilities[int(key)])
            else:
                values.append(None)
        columns[column] = values
    return columns


def counted(profile: Profile, columns: dict, weights: np.ndarray) -> WindowCounts:
    window = WindowCounts(profile)
    window.add(columns, weights=weights, n_rows=len(weights))
    return window


def assert_same_counts(profile: Profile, texts: list[bytes], builder: ColumnBuilder, seed: int) -> dict:
    weights = np.random.default_rng(seed).choice([1.0, 2.0, 10.0], size=len(texts))
    built = builder.build(texts)
    fast = counted(profile, built, weights)
    reference = counted(profile, reference_columns(texts, builder), weights)
    assert fast.to_dict() == reference.to_dict()
    assert evaluate(fast).to_dict() == evaluate(reference).to_dict()
    return built


@pytest.mark.parametrize("seed", range(4))
def test_mixed_bodies_count_exactly_as_the_orjson_reading(profile: Profile, seed: int) -> None:
    texts = mixed_bodies(3 * CHUNK + 77, seed, bad_share=0.08)  # clean chunks and broken ones
    builder = ColumnBuilder(profile, "prediction", "proba_")
    assert_same_counts(profile, texts, builder, seed)
    window = counted(profile, builder.build(texts), np.ones(len(texts)))
    x = [window.features[name] for name in NUMERIC]
    assert sum(f.type_errors for f in x) > 0 and sum(f.nonfinite for f in x) > 0
    assert sum(f.missing for f in x) > 0 and window.features["city"].type_errors > 0
    assert window.features["city"].new > 0 and window.unexpected


def test_every_row_bad_and_every_value_kind(profile: Profile) -> None:
    rng = np.random.default_rng(11)
    texts = []
    for i, value in enumerate(BAD_NUMBERS * 3):
        body = clean_body(rng, i)
        body["features"][NUMERIC[i % len(NUMERIC)]] = value
        body["features"]["city"] = BAD_CATEGORIES[i % len(BAD_CATEGORIES)]
        texts.append(encode(body))
    assert_same_counts(profile, texts, ColumnBuilder(profile, "prediction", "proba_"), seed=11)


@pytest.mark.parametrize("value", [*BAD_NUMBERS, "missing key"], ids=repr)
def test_each_bad_value_kind_alone(profile: Profile, value: object) -> None:
    """One kind of bad value in an otherwise clean flush: each takes its own path (a bool or
    an int among floats, a null, a missing key) and must still count as the reference does."""
    rng = np.random.default_rng(12)
    bodies = [clean_body(rng, i) for i in range(CHUNK + 100)]
    for i in range(3, len(bodies), 97):
        if value == "missing key":
            del bodies[i]["features"]["x2"]
        else:
            bodies[i]["features"]["x2"] = value
    assert_same_counts(
        profile, [encode(b) for b in bodies], ColumnBuilder(profile, "prediction", "proba_"), 12
    )


def test_clean_bodies_take_the_typed_path_into_float_arrays(profile: Profile) -> None:
    texts = mixed_bodies(1500, seed=5, bad_share=0.0)
    built = assert_same_counts(profile, texts, ColumnBuilder(profile, "prediction", "proba_"), seed=5)
    assert all(isinstance(built[name], np.ndarray) for name in NUMERIC)
    assert all(built[name].dtype == np.float64 for name in NUMERIC)


def test_feature_absent_from_every_row_is_absent_not_missing(profile: Profile) -> None:
    rng = np.random.default_rng(8)
    bodies = [clean_body(rng, i) for i in range(600)]
    for body in bodies:
        del body["features"]["x3"], body["features"]["city"]
    bodies[10]["features"]["x5"] = None  # present once, as null: missing, not absent
    texts = [encode(b) for b in bodies]
    built = assert_same_counts(profile, texts, ColumnBuilder(profile, "prediction", "proba_"), seed=8)
    assert "x3" not in built and "city" not in built and "x5" in built
    window = counted(profile, built, np.ones(len(texts)))
    assert window.features["x3"].absent == 600 and window.features["x5"].missing == 1


def test_unexpected_key_is_learned_and_stays_counted(profile: Profile) -> None:
    """A sender that always adds a key the profile lacks (e.g. a column excluded from it)."""
    rng = np.random.default_rng(9)
    builder = ColumnBuilder(profile, "prediction", "proba_")
    for round_ in range(3):
        bodies = [clean_body(rng, i) for i in range(700)]
        for body in bodies:
            body["features"]["request_id"] = f"r{rng.integers(1000)}"
        built = assert_same_counts(profile, [encode(b) for b in bodies], builder, seed=round_)
        assert "request_id" in built
    assert builder.learned == ["request_id"]
    bodies = [clean_body(rng, i) for i in range(50)]  # the key gone again: nothing unexpected
    built = assert_same_counts(profile, [encode(b) for b in bodies], builder, seed=4)
    assert "request_id" not in built
