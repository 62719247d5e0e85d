"""XGBoost capture: scikit-learn wrappers and Booster.predict / inplace_predict."""

import inspect
import pickle

import numpy as np
import pytest

pytest.importorskip("xgboost")

import pandas as pd
import xgboost
from sklearn.datasets import load_iris

from modeltel.agent.frameworks import xgboost as xgboost_hook
from modeltel.agent.model_registry import identity
from tests.agent.frameworks.conftest import run_enabled

xgboost_hook.install(xgboost)

IRIS = load_iris(as_frame=True)
X_FRAME: pd.DataFrame = IRIS.data.rename(columns=lambda c: c.replace(" ", "_").strip("_(cm)"))
X = X_FRAME.to_numpy()
Y = IRIS.target.to_numpy()


@pytest.fixture(scope="module")
def classifier() -> "xgboost.XGBClassifier":
    return xgboost.XGBClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X_FRAME, Y)


def test_at_import_wrappers_and_boosters_are_captured() -> None:
    seen = run_enabled(
        """
        import numpy as np, xgboost
        rng = np.random.default_rng(0)
        X = rng.normal(size=(50, 3)); y = (X[:, 0] > 0).astype(int)
        model = xgboost.XGBClassifier(n_estimators=3).fit(X, y)
        model.predict(X[:4])
        model.get_booster().predict(xgboost.DMatrix(X[:2]))
        """
    )
    assert [(s["model"], s["method"], s["rows"]) for s in seen] == [
        ("XGBClassifier", "predict", 4),
        ("Booster", "predict", 2),
    ]
    assert seen[1]["objective"] == "binary:logistic"
    assert seen[1]["scores"] == seen[1]["predictions"] and 0 < seen[1]["scores"][0] < 1


def test_classifier_predict_and_proba_record_once_each(calls, classifier) -> None:
    labels = classifier.predict(X_FRAME.iloc[:3])
    proba = classifier.predict_proba(X_FRAME.iloc[[0, 149]])
    (_, predict), (_, predict_proba) = calls  # the inner Booster calls are not recorded
    assert predict.feature_names == list(X_FRAME.columns)
    assert predict.predictions == labels.tolist() == [0, 0, 0]
    assert predict_proba.predictions == [0, 2]
    assert predict_proba.probabilities[1]["2"] == pytest.approx(float(proba[1, 2]))
    assert identity(classifier).name == "XGBClassifier"


def test_output_margin_is_a_score_with_the_objective(calls, classifier) -> None:
    margins = classifier.predict(X_FRAME.iloc[:2], output_margin=True)
    [(_, call)] = calls
    assert call.scores == margins.tolist()
    assert call.objective == "multi:softprob (margin)"


def test_booster_feature_names_and_raw_outputs(calls, classifier) -> None:
    booster = classifier.get_booster()
    raw = booster.predict(xgboost.DMatrix(X_FRAME.iloc[:2]))
    booster.inplace_predict(X[:3])
    booster.inplace_predict(X[:2], predict_type="margin")
    (_, dmatrix), (_, inplace), (_, margin) = calls
    assert dmatrix.feature_names == list(X_FRAME.columns)  # the DMatrix's own names
    np.testing.assert_allclose(dmatrix.features, X[:2])
    assert dmatrix.predictions == raw.tolist() and dmatrix.objective == "multi:softprob"
    assert inplace.feature_names == list(X_FRAME.columns)  # Booster.feature_names
    assert margin.objective == "multi:softprob (margin)"
    assert identity(booster).name == "xgboost.Booster"


def test_regressor_one_dimensional_and_leaf_outputs(calls) -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 3))
    regressor = xgboost.XGBRegressor(n_estimators=3).fit(features, features.sum(axis=1))
    values = regressor.predict(features[:2])
    regressor.get_booster().predict(xgboost.DMatrix(features[:2]), pred_leaf=True)  # leaf indices
    one_feature = xgboost.XGBRegressor(n_estimators=2).fit(features[:, :1], features[:, 0]).get_booster()
    one_feature.inplace_predict(features[:3, 0])  # 1-D: XGBoost reads a column, one value per row
    (_, call), (_, column) = calls
    assert call.predictions == values.tolist() and call.feature_names == ["f0", "f1", "f2"]
    assert column.rows == 3 and column.features.shape == (3, 1) and len(column.predictions) == 3


def test_missing_values_stay_missing_in_a_dmatrix(calls, classifier) -> None:
    rows = X[:2].copy()
    rows[0, 1] = np.nan
    classifier.get_booster().predict(xgboost.DMatrix(rows, feature_names=list(X_FRAME.columns)))
    features = calls[0][1].features
    assert np.isnan(features[0, 1]) and features[1, 1] == X[1, 1]


def test_errors_propagate_and_pickling_and_signatures_survive(calls, classifier) -> None:
    with pytest.raises(ValueError):
        classifier.predict(X[:2, :2])  # wrong width: XGBoost's own error
    assert calls == []
    restored = pickle.loads(pickle.dumps(classifier))
    assert restored.predict(X_FRAME.iloc[:1]).tolist() == [0]
    assert len(calls) == 1
    assert xgboost.Booster.predict.__name__ == "predict"
    assert "data" in inspect.signature(xgboost.Booster.predict).parameters
