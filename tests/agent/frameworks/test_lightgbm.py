"""LightGBM capture: scikit-learn wrappers and Booster.predict."""

import pickle

import numpy as np
import pytest

pytest.importorskip("lightgbm")

import lightgbm
import pandas as pd
from sklearn.datasets import load_iris

from modeltel.agent.frameworks import lightgbm as lightgbm_hook
from modeltel.agent.model_registry import identity
from tests.agent.frameworks.conftest import run_enabled

lightgbm_hook.install(lightgbm)

IRIS = load_iris(as_frame=True)
X_FRAME: pd.DataFrame = IRIS.data.rename(columns=lambda c: c.replace(" ", "_").strip("_(cm)"))
X = X_FRAME.to_numpy()
Y = IRIS.target.to_numpy()


@pytest.fixture(scope="module")
def classifier() -> "lightgbm.LGBMClassifier":
    return lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, random_state=0).fit(X_FRAME, Y)


def test_at_import_wrappers_and_boosters_are_captured() -> None:
    seen = run_enabled(
        """
        import numpy as np, lightgbm
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 3)); y = X[:, 0] * 2
        model = lightgbm.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, y)
        model.predict(X[:4])
        model.booster_.predict(X[:2])
        """
    )
    assert [(s["model"], s["method"], s["rows"]) for s in seen] == [
        ("LGBMRegressor", "predict", 4),
        ("Booster", "predict", 2),
    ]
    assert seen[0]["feature_names"] == ["f0", "f1", "f2"]  # not LightGBM's Column_0 placeholders
    assert seen[1]["objective"] == "regression"


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_classifier_outputs_and_names(calls, classifier) -> None:
    labels = classifier.predict(X_FRAME.iloc[:3])
    proba = classifier.predict_proba(X[[0, 149]])
    (_, predict), (_, predict_proba) = calls
    assert predict.feature_names == list(X_FRAME.columns)
    assert predict.predictions == labels.tolist()
    assert predict_proba.feature_names == list(X_FRAME.columns)  # feature_name_ of the model
    assert predict_proba.predictions == [0, 2]
    assert predict_proba.probabilities[0]["0"] == pytest.approx(float(proba[0, 0]))
    assert identity(classifier).name == "LGBMClassifier"


def test_booster_raw_scores_and_contributions(calls, classifier) -> None:
    booster = classifier.booster_
    proba = booster.predict(X[:2])
    margins = booster.predict(X[:2], raw_score=True)
    booster.predict(X[:2], pred_contrib=True)  # contributions: not a prediction
    (_, call), (_, margin) = calls
    assert call.scores == proba.tolist() and call.objective == "multiclass"
    assert margin.scores == margins.tolist() and margin.objective == "multiclass (margin)"
    assert call.feature_names == list(X_FRAME.columns)
    assert identity(booster).name == "lightgbm.Booster"


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_sparse_input_and_errors(calls, classifier) -> None:
    from scipy import sparse

    classifier.predict(sparse.csr_matrix(X[:3]))
    np.testing.assert_array_equal(calls[0][1].features, X[:3])
    with pytest.raises(ValueError):
        classifier.predict(X[:2, :2])
    assert len(calls) == 1
    restored = pickle.loads(pickle.dumps(classifier))
    assert restored.predict(X[:1]).tolist() == [0]
    assert len(calls) == 2
