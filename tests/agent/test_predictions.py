import asyncio
import logging
import math

import numpy as np
import orjson
import pytest
from pydantic import BaseModel

from modeltel.agent.predictions import (
    encode_body,
    feature_mapping,
    new_prediction_id,
    predictor,
    record_prediction,
)


class Row(BaseModel):
    age: int
    income: float


def test_feature_mapping_accepts_mappings_models_and_rows() -> None:
    assert feature_mapping({"a": 1}) == {"a": 1}
    assert feature_mapping(Row(age=3, income=2.5)) == {"age": 3, "income": 2.5}
    assert feature_mapping([1.0, 2.0]) == {"f0": 1.0, "f1": 2.0}
    assert feature_mapping(np.array([1.5, 2.5])) == {"f0": 1.5, "f1": 2.5}
    assert feature_mapping(np.array([[1.5, 2.5]])) == {"f0": 1.5, "f1": 2.5}
    with pytest.raises(TypeError, match="mapping"):
        feature_mapping(42)
    with pytest.raises(TypeError):
        feature_mapping("abc")
    with pytest.raises(TypeError, match=r"one row, got shape \(2, 2\)"):
        feature_mapping(np.zeros((2, 2)))


def test_pandas_rows_keep_their_column_names() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"age": [31, 47], "plan": ["pro", "free"], "spend": [12.5, float("nan")]})
    assert feature_mapping(frame.iloc[0]) == {"age": 31, "plan": "pro", "spend": 12.5}
    assert feature_mapping(frame.iloc[[0]]) == {"age": 31, "plan": "pro", "spend": 12.5}
    with pytest.raises(TypeError, match="one row"):
        feature_mapping(frame)
    body = orjson.loads(encode_body({"features": feature_mapping(frame.iloc[1]), "prediction": 0}))
    assert body["features"] == {"age": 47, "plan": "free", "spend": "NaN"}


def test_non_finite_values_survive_as_named_strings_not_nulls() -> None:
    body = orjson.loads(
        encode_body(
            {
                "features": {"a": math.nan, "b": math.inf, "c": -math.inf, "d": None, "e": np.float64("nan")},
                "prediction": np.array([0.5, np.inf]),
            }
        )
    )
    assert body["features"] == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": None, "e": "NaN"}
    assert body["prediction"] == [0.5, "Infinity"]


def test_numpy_and_unknown_values_are_kept() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    body = orjson.loads(
        encode_body({"features": {"n": np.int64(7), "o": Opaque()}, "prediction": np.float32(0.25)})
    )
    assert body == {"features": {"n": 7, "o": "opaque!"}, "prediction": 0.25}


def test_prediction_ids_are_unique_128_bit_hex() -> None:
    ids = {new_prediction_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_record_prediction_never_raises_into_the_host(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="modeltel.agent"):
        prediction_id = record_prediction(42, 1, model="m")
    assert len(prediction_id) == 32
    assert "could not record prediction" in caplog.text


def test_record_prediction_keeps_a_given_id() -> None:
    assert record_prediction({"x": 1}, 0, model="m", prediction_id="abc") == "abc"


def test_predictor_decorator_passes_results_through() -> None:
    @predictor(model="m", version="2")
    def predict(features: dict) -> int:
        return 7

    @predictor(model="m")
    async def predict_async(features: dict, scale: int = 1) -> int:
        return 3 * scale

    assert predict({"x": 1}) == 7
    assert asyncio.run(predict_async({"x": 1}, scale=2)) == 6
    assert predict.__name__ == "predict"
