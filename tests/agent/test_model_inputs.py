"""Rows and column names of a model call, for every kind of input the frameworks accept."""

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel
from scipy import sparse

from modeltel.agent.model_inputs import SPARSE_MAX_COLUMNS, describe_rows, model_feature_names
from modeltel.agent.model_registry import register_model
from modeltel.agent.request_context import RequestState, current_request

ROWS = np.arange(12.0).reshape(4, 3)


class Fitted:
    """What a fitted scikit-learn estimator exposes about its columns."""

    def __init__(self, names: list[str] | None = None) -> None:
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)


class Request(BaseModel):
    age: float
    income: float
    score: float


@pytest.fixture
def in_request():
    token = current_request.set(RequestState(body_models=[Request(age=1, income=2, score=3)]))
    yield
    current_request.reset(token)


def test_dataframe_columns_win_over_everything(in_request) -> None:
    frame = pd.DataFrame(ROWS[:1], columns=["a", "b", 3])
    inputs = describe_rows(
        register_model(Fitted(["x", "y", "z"]), name="m", feature_names=["p", "q", "r"]), frame
    )
    assert inputs.names == ["a", "b", "3"] and inputs.rows == 1
    np.testing.assert_array_equal(inputs.features, ROWS[:1])


def test_precedence_registered_then_model_then_request_then_positional(in_request) -> None:
    registered = register_model(Fitted(["x", "y", "z"]), name="m", feature_names=["p", "q", "r"])
    assert describe_rows(registered, ROWS[:1]).names == ["p", "q", "r"]
    assert describe_rows(Fitted(["x", "y", "z"]), ROWS[:1]).names == ["x", "y", "z"]
    assert describe_rows(Fitted(), ROWS[:1]).names == ["age", "income", "score"]
    assert describe_rows(Fitted(), ROWS[:2]).names == ["f0", "f1", "f2"]  # a batch: not the request's row
    assert describe_rows(Fitted(["x", "y"]), ROWS[:2]).names == ["f0", "f1", "f2"]  # wrong width: ignored


def test_positional_names_outside_a_request() -> None:
    assert describe_rows(Fitted(), ROWS[:1]).names == ["f0", "f1", "f2"]


def test_lightgbm_placeholder_names_count_as_none() -> None:
    class Booster:
        def feature_name(self) -> list[str]:
            return ["Column_0", "Column_1", "Column_2"]

    class Named(Booster):
        def feature_name(self) -> list[str]:
            return ["a", "b", "c"]

    assert model_feature_names(Booster(), 3) is None
    assert model_feature_names(Named(), 3) == ["a", "b", "c"]


def test_lists_and_one_dimensional_inputs() -> None:
    assert describe_rows(Fitted(), ROWS.tolist()).rows == 4
    column = describe_rows(Fitted(), np.arange(5.0), outputs=5)
    assert column.rows == 5 and column.features.shape == (5, 1)
    one_row = describe_rows(Fitted(), np.arange(5.0), outputs=1)
    assert one_row.rows == 1 and one_row.names == ["f0", "f1", "f2", "f3", "f4"]
    assert describe_rows(Fitted(), 3.0).rows == 1


def test_mixed_types_keep_their_values() -> None:
    frame = pd.DataFrame({"city": ["Oslo", "Lima"], "rooms": [2, 3]})
    inputs = describe_rows(Fitted(), frame)
    assert inputs.features.tolist() == [["Oslo", 2], ["Lima", 3]]


def test_small_sparse_is_densified_and_large_sparse_is_counted_only() -> None:
    small = describe_rows(Fitted(), sparse.csr_matrix(ROWS))
    np.testing.assert_array_equal(small.features, ROWS)
    wide = sparse.random(3, SPARSE_MAX_COLUMNS + 1, density=0.01, format="csr", random_state=0)
    described = describe_rows(Fitted(), wide)
    assert described.rows == 3 and described.names == [] and described.features.shape == (3, 0)
    tall = sparse.random(2_000_000, 2, density=1e-5, format="csr", random_state=0)
    assert describe_rows(Fitted(), tall).features.shape == (2_000_000, 0)  # not 4 M cells


def test_empty_batch_and_non_tabular_inputs() -> None:
    empty = describe_rows(Fitted(), np.empty((0, 3)))
    assert empty.rows == 0 and empty.names == ["f0", "f1", "f2"]
    for data in ["rows.csv", b"raw", None, {"a": 1}, np.zeros((2, 2, 2))]:
        assert describe_rows(Fitted(), data) is None
