"""ONNX Runtime capture: InferenceSession.run with skl2onnx-converted models."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

import onnxruntime
import pandas as pd
import skl2onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from modeltel.agent import register_model
from modeltel.agent.frameworks import onnxruntime as onnx_hook
from modeltel.agent.model_registry import identity
from tests.agent.frameworks.conftest import run_enabled

onnx_hook.install(onnxruntime)

X, Y = load_iris(return_X_y=True)
X32 = X.astype(np.float32)
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def session(onnx_model) -> "onnxruntime.InferenceSession":
    return onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def classifier_onnx():
    return skl2onnx.to_onnx(LogisticRegression(max_iter=500).fit(X, Y), X32[:1])


def test_at_import_sessions_are_captured(tmp_path) -> None:
    seen = run_enabled(
        f"""
        import numpy as np, skl2onnx, onnxruntime
        from sklearn.linear_model import LinearRegression
        X = np.arange(12, dtype=np.float32).reshape(6, 2)
        path = {str(tmp_path / "price.onnx")!r}
        with open(path, "wb") as f:
            f.write(skl2onnx.to_onnx(LinearRegression().fit(X, X[:, 0]), X[:1]).SerializeToString())
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        session.run(None, {{"X": X[:3]}})
        """
    )
    # skl2onnx's sklearn model is captured too (LinearRegression.fit is quiet, to_onnx calls nothing)
    assert [(s["model"], s["method"], s["rows"]) for s in seen] == [("InferenceSession", "run", 3)]
    assert seen[0]["feature_names"] == ["f0", "f1"]
    assert seen[0]["predictions"] == pytest.approx([0.0, 2.0, 4.0], abs=1e-4)


def test_zipmap_classifier_gives_labels_and_probabilities(calls, classifier_onnx) -> None:
    sess = session(classifier_onnx)
    label, proba = sess.run(None, {"X": X32[[0, 149]]})
    [(model, call)] = calls
    assert model is sess and call.rows == 2
    assert call.predictions == label.tolist() == [0, 2]
    assert call.probabilities[1] == pytest.approx({"0": proba[1][0], "1": proba[1][1], "2": proba[1][2]})
    assert call.feature_names == ["f0", "f1", "f2", "f3"]
    assert identity(sess).name == "ONNX(LogisticRegression)"


def test_probability_tensor_without_zipmap(calls) -> None:
    onx = skl2onnx.to_onnx(LogisticRegression(max_iter=500).fit(X, Y), X32[:1], options={"zipmap": False})
    session(onx).run(["label", "probabilities"], {"X": X32[:2]})
    [(_, call)] = calls
    assert call.predictions == [0, 0] and set(call.probabilities[0]) == {"0", "1", "2"}


def test_registered_feature_names_and_identity(calls, classifier_onnx) -> None:
    sess = register_model(session(classifier_onnx), name="iris", version="7", feature_names=NAMES)
    sess.run(None, {"X": X32[:1]})
    assert calls[0][1].feature_names == NAMES
    assert identity(sess).name == "iris" and identity(sess).version == "7"


def test_one_input_per_column_as_skl2onnx_makes_for_dataframes(calls) -> None:
    frame = pd.DataFrame(X32, columns=NAMES)
    pipe = make_pipeline(
        ColumnTransformer([(name, "passthrough", [name]) for name in NAMES]), LinearRegression()
    ).fit(frame, Y)
    sess = session(skl2onnx.to_onnx(pipe, frame[:1]))  # one [N, 1] input per column
    assert [i.name for i in sess.get_inputs()] == NAMES
    [values] = sess.run(None, {name: X32[:3, [i]] for i, name in enumerate(NAMES)})
    [(_, call)] = calls
    assert call.feature_names == NAMES
    np.testing.assert_array_equal(call.features, X32[:3])
    assert call.predictions == pytest.approx(values[:, 0].tolist())


def test_errors_propagate_and_odd_feeds_never_raise(calls, classifier_onnx) -> None:
    sess = session(classifier_onnx)
    with pytest.raises(Exception, match="X") as raised:
        sess.run(None, {"X": X32[:2, :2]})
    assert "onnxruntime" in type(raised.value).__module__
    assert calls == []
    for args, result in [
        ((None, {}), []),
        ((None, {"X": np.float32(1)}), [np.array([1])]),
        ((None, None), None),
    ]:
        assert onnx_hook.describe_run(sess, "run", args, {}, result) is None
    assert onnxruntime.InferenceSession.run.__name__ == "run"
