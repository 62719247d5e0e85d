"""scikit-learn capture: at import (fresh interpreter) and on an already-imported sklearn."""

import inspect
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

import pandas as pd
import sklearn.base
from joblib import parallel_backend
from pydantic import BaseModel
from scipy import sparse
from sklearn.datasets import load_iris
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modeltel.agent.frameworks import sklearn as sklearn_hook
from modeltel.agent.frameworks.patching import MARK
from modeltel.agent.model_registry import identity
from modeltel.agent.request_context import RequestState, current_request
from tests.agent.frameworks.conftest import run_enabled
from tests.conftest import clean_env

sklearn_hook.install(sklearn.base)

IRIS = load_iris(as_frame=True)
X_FRAME: pd.DataFrame = IRIS.data
X = X_FRAME.to_numpy()
Y = IRIS.target.to_numpy()
NAMES = list(X_FRAME.columns)
LABELS = np.asarray(IRIS.target_names)[Y]  # string classes


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(X, LABELS)


def test_at_import_a_plain_server_script_is_captured_with_names() -> None:
    seen = run_enabled(
        """
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        from sklearn.base import BaseEstimator
        iris = load_iris(as_frame=True)
        model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
        model.predict(iris.data.iloc[:3])
        class Custom(BaseEstimator):  # defined after the hook: wrapped as it is created
            def fit(self, X, y=None):
                return self
            def predict(self, X):
                return [len(row) for row in X]
        Custom().fit([[1, 2]]).predict([[1, 2], [3, 4]])
        assert hasattr(LogisticRegression(), "set_fit_request")  # sklearn's own subclass hook ran
        """
    )
    assert [(s["model"], s["method"], s["rows"]) for s in seen] == [
        ("LogisticRegression", "predict", 3),
        ("Custom", "predict", 2),
    ]
    assert seen[0]["feature_names"] == NAMES
    assert seen[0]["predictions"] == [0, 0, 0]
    assert seen[1]["feature_names"] == ["f0", "f1"] and seen[1]["predictions"] == [2, 2]


@pytest.mark.parametrize(
    "env", [{}, {"MODELTEL_ENABLED": "1", "MODELTEL_CAPTURE_MODELS": "0"}], ids=["disabled", "capture-off"]
)
def test_disabled_agent_or_capture_leaves_sklearn_alone(env: dict[str, str]) -> None:
    script = (
        "from sklearn.linear_model import LogisticRegression as L; print(hasattr(L.predict, '__wrapped__'))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], env=clean_env(**env), capture_output=True, text=True, timeout=120
    )
    assert completed.stdout.strip() == "False", completed.stderr


def test_dataframe_columns_name_the_features(calls, classifier) -> None:
    model = LogisticRegression(max_iter=500).fit(X_FRAME, LABELS)
    model.predict(X_FRAME.iloc[:4])
    [(seen_model, call)] = calls
    assert seen_model is model
    assert call.method == "predict" and call.rows == 4
    assert call.feature_names == NAMES
    np.testing.assert_array_equal(call.features, X[:4])
    assert call.predictions == LABELS[:4].tolist()


def test_feature_names_in_names_a_numpy_call(calls) -> None:
    model = LogisticRegression(max_iter=500).fit(X_FRAME, Y)
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X[:2])
    assert calls[0][1].feature_names == NAMES


def test_unnamed_features_are_positional(calls, classifier) -> None:
    classifier.predict(X[:2])
    assert calls[0][1].feature_names == ["f0", "f1", "f2", "f3"]


class IrisRequest(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


def test_one_row_in_a_request_takes_the_request_model_names(calls, classifier) -> None:
    body = IrisRequest(sepal_length=5.1, sepal_width=3.5, petal_length=1.4, petal_width=0.2)
    token = current_request.set(RequestState(body_models=[body]))
    try:
        classifier.predict([[body.sepal_length, body.sepal_width, body.petal_length, body.petal_width]])
        classifier.predict(X[:2])  # a batch is not the request body's row
    finally:
        current_request.reset(token)
    assert calls[0][1].feature_names == list(IrisRequest.model_fields)
    assert calls[1][1].feature_names == ["f0", "f1", "f2", "f3"]


def test_predict_proba_gives_the_argmax_label_and_class_probabilities(calls, classifier) -> None:
    result = classifier.predict_proba(X[[0, 75, 149]])
    [(_, call)] = calls
    assert call.method == "predict_proba"
    assert call.predictions == classifier.classes_[result.argmax(axis=1)].tolist()
    assert call.predictions == ["setosa", "versicolor", "virginica"]
    assert list(call.probabilities[0]) == ["setosa", "versicolor", "virginica"]
    assert call.probabilities[2]["virginica"] == pytest.approx(result[2, 2])


def test_decision_function_multiclass_and_binary(calls, classifier) -> None:
    scores = classifier.decision_function(X[[0, 149]])
    binary = LogisticRegression().fit(X[:100], LABELS[:100])
    binary_scores = binary.decision_function(X[[0, 99]])
    (_, multi), (_, two) = calls
    assert multi.predictions == ["setosa", "virginica"]
    assert multi.scores == scores.tolist() and len(multi.scores[0]) == 3
    assert two.predictions == ["setosa", "versicolor"]
    assert two.scores == binary_scores.tolist() and isinstance(two.scores[0], float)


def test_outlier_detector_scores_imply_its_own_labels(calls) -> None:
    detector = IsolationForest(n_estimators=5, random_state=0).fit(X)
    far = np.array([X[0], X[0] + 50])
    detector.decision_function(far)
    [(_, call)] = calls
    assert call.predictions == detector.predict(far).tolist() == [1, -1]


def test_predict_calling_decision_function_records_once(calls, classifier) -> None:
    classifier.predict(X[:3])  # LinearClassifierMixin.predict calls self.decision_function
    assert [call.method for _, call in calls] == ["predict"]


def test_regression_and_multi_output(calls) -> None:
    y2 = np.column_stack([X[:, 0] * 2, X[:, 1] - 1])
    single = LinearRegression().fit(X, X[:, 3])
    multi = LinearRegression().fit(X, y2)
    value = single.predict(X[:2])
    pair = multi.predict(X[:2])
    (_, one), (_, two) = calls
    assert one.predictions == value.tolist() and isinstance(one.predictions[0], float)
    assert two.predictions == pair.tolist() and len(two.predictions[0]) == 2


def test_pipeline_records_once_with_its_input_names(calls) -> None:
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_FRAME, Y)
    pipe.predict(X_FRAME.iloc[:5])
    pipe.predict_proba(X_FRAME.iloc[:5])
    assert [(type(m).__name__, c.method, c.rows) for m, c in calls] == [
        ("Pipeline", "predict", 5),
        ("Pipeline", "predict_proba", 5),
    ]
    assert calls[0][1].feature_names == NAMES
    assert identity(pipe).name == "Pipeline(LogisticRegression)"


def test_available_if_methods_keep_their_availability() -> None:
    classifying = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    regressing = make_pipeline(StandardScaler(), LinearRegression()).fit(X, X[:, 0])
    assert hasattr(classifying, "predict_proba") and hasattr(classifying, "decision_function")
    assert not hasattr(regressing, "predict_proba")
    assert getattr(Pipeline.__dict__["predict_proba"].fn, MARK)


def test_wrapped_methods_keep_names_docs_and_signatures() -> None:
    for cls, method in [
        (LogisticRegression, "predict"),
        (LogisticRegression, "predict_proba"),
        (Pipeline, "predict"),
    ]:
        wrapped = getattr(cls, method)
        assert wrapped.__name__ == method
        assert wrapped.__doc__ and "X" in wrapped.__doc__
        assert list(inspect.signature(wrapped).parameters)[:2] == ["self", "X"]
    assert inspect.signature(LogisticRegression.fit) == inspect.signature(LogisticRegression.fit.__wrapped__)


def test_errors_inside_predict_propagate_unchanged_and_record_nothing(calls) -> None:
    with pytest.raises(NotFittedError):
        LogisticRegression().predict(X[:1])

    class Broken(sklearn.base.BaseEstimator):
        error = KeyError("boom")

        def predict(self, X):
            raise self.error

    with pytest.raises(KeyError) as raised:
        Broken().predict(X[:1])
    assert raised.value is Broken.error
    assert calls == []


def test_pickle_round_trip_of_a_fitted_wrapped_estimator(calls, classifier) -> None:
    restored = pickle.loads(pickle.dumps(classifier))
    np.testing.assert_array_equal(restored.predict(X[:3]), classifier.predict(X[:3]))
    assert [type(m) for m, _ in calls] == [LogisticRegression, LogisticRegression]
    pickle.loads(pickle.dumps(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)))


def test_sklearns_own_predictions_are_not_captured(calls) -> None:
    forest = RandomForestClassifier(n_estimators=4, n_jobs=2, random_state=0).fit(X, Y)
    search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.5, 1.0]}, cv=2).fit(X, Y)
    with parallel_backend("threading", n_jobs=2):  # folds in worker threads
        cross_val_score(LogisticRegression(max_iter=500), X, Y, cv=2)
    forest.score(X, Y)
    assert calls == []
    forest.predict(X[:2])  # its trees predict in joblib threads: only the forest records
    search.predict(X[:2])
    assert [type(m).__name__ for m, _ in calls] == ["RandomForestClassifier", "GridSearchCV"]
    assert identity(search).name == "GridSearchCV(LogisticRegression)"


def test_odd_inputs_never_raise(calls, classifier) -> None:
    classifier.predict(X[:2].tolist())  # lists
    sparse_model = LogisticRegression(max_iter=500).fit(sparse.csr_matrix(X), Y)
    sparse_model.predict(sparse.csr_matrix(X[:3]))
    wide = sparse.random(5, 5000, density=0.001, format="csr", random_state=0)
    LinearRegression().fit(wide, np.arange(5.0)).predict(wide)
    assert [c.rows for _, c in calls] == [2, 3, 5]
    np.testing.assert_array_equal(calls[1][1].features, X[:3])
    assert calls[2][1].feature_names == [] and calls[2][1].features.shape == (5, 0)  # too wide to densify
    described = sklearn_hook.describe_estimator_call
    for args, result in [
        ((np.empty((0, 4)),), np.array([])),  # empty batch
        ((X[:2],), np.array([1])),  # output rows that do not match
        ((), np.array([1])),  # no input at all
        (("a/file.csv",), np.array([1])),
        ((np.zeros((2, 2, 2)),), np.array([1, 2])),
        ((X[:2],), object()),
    ]:
        call = described(classifier, "predict", args, {}, result)
        assert call is None or call.rows == 0


def test_install_twice_records_once(calls, classifier) -> None:
    sklearn_hook.install(sklearn.base)
    classifier.predict(X[:1])
    assert len(calls) == 1
