"""One plain-Python output per row for every kind of predict-like result."""

import numpy as np
import orjson
from scipy import sparse

from modeltel.agent.model_outputs import StringKeyedRows, describe_outputs, from_raw_scores, per_row


class Classifier:
    def __init__(self, classes) -> None:
        self.classes_ = np.asarray(classes)


def test_predict_values_labels_and_multi_output() -> None:
    assert describe_outputs(None, "predict", np.array([1.5, 2.5])).predictions == [1.5, 2.5]
    assert describe_outputs(None, "predict", np.array(["cat", "dog"])).predictions == ["cat", "dog"]
    assert describe_outputs(None, "predict", np.array([[1, 2], [3, 4]])).predictions == [[1, 2], [3, 4]]
    assert describe_outputs(None, "predict", np.array([[1.0], [2.0]])).predictions == [1.0, 2.0]
    assert describe_outputs(None, "predict", [0, 1]).predictions == [0, 1]


def test_probabilities_give_argmax_label_and_named_probabilities() -> None:
    proba = np.array([[0.2, 0.8], [0.9, 0.1]])
    outputs = describe_outputs(Classifier(["no", "yes"]), "predict_proba", proba)
    assert outputs.predictions == ["no", "yes"][::-1]
    assert list(outputs.probabilities) == [{"no": 0.2, "yes": 0.8}, {"no": 0.9, "yes": 0.1}]
    assert outputs.probabilities[-1] == {"no": 0.9, "yes": 0.1} and len(outputs.probabilities) == 2
    assert outputs.probabilities[1:] == [{"no": 0.9, "yes": 0.1}]
    unlabelled = describe_outputs(object(), "predict_proba", proba)
    assert unlabelled.predictions == [1, 0] and list(unlabelled.probabilities[0]) == ["0", "1"]
    assert describe_outputs(Classifier([0, 1]), "predict_proba", np.empty((0, 2))).predictions == []


def test_multi_output_probabilities_give_a_label_per_output() -> None:
    model = Classifier([0, 1])
    model.classes_ = [np.array(["a", "b"]), np.array([10, 20, 30])]
    result = [np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])]
    outputs = describe_outputs(model, "predict_proba", result)
    assert outputs.predictions == [["a", 30], ["b", 10]]


def test_decision_function_binary_and_multiclass() -> None:
    binary = describe_outputs(Classifier(["ham", "spam"]), "decision_function", np.array([-1.5, 0.5]))
    assert binary.predictions == ["ham", "spam"] and binary.scores == [-1.5, 0.5]
    detector = type("Detector", (), {"_estimator_type": "outlier_detector"})()
    outliers = describe_outputs(detector, "decision_function", np.array([-0.2, 0.3]))
    assert outliers.predictions == [-1, 1] and outliers.scores == [-0.2, 0.3]
    assert describe_outputs(object(), "decision_function", np.array([0.5])).predictions == [0.5]
    multi = describe_outputs(Classifier([3, 5, 7]), "decision_function", np.array([[0.1, 2.0, -1.0]]))
    assert multi.predictions == [5] and multi.scores == [[0.1, 2.0, -1.0]]


def test_zipmap_rows_are_read_with_string_keys() -> None:
    rows = StringKeyedRows([{0: np.float32(0.25), 1: np.float32(0.75)}, {0: 1.0, 1: 0.0}])
    assert rows[0] == {"0": 0.25, "1": 0.75} and type(rows[0]["1"]) is float
    assert list(rows) == rows[:] and len(rows) == 2


def test_raw_scores_are_predictions_and_scores() -> None:
    outputs = from_raw_scores(np.array([[0.1, 0.9]]))
    assert outputs.predictions == outputs.scores == [[0.1, 0.9]]


def test_values_are_plain_python_and_encode_as_json() -> None:
    outputs = describe_outputs(
        Classifier(np.array([1, 2])), "predict_proba", np.array([[0.25, 0.75]], np.float32)
    )
    assert type(outputs.predictions[0]) is int and type(outputs.probabilities[0]["2"]) is float
    orjson.dumps({"p": outputs.predictions, "q": list(outputs.probabilities)})


def test_odd_results_give_none_not_errors() -> None:
    assert per_row(np.float64(1.0)) is None
    assert per_row(sparse.csr_matrix(np.eye(2))) is None
    assert describe_outputs(None, "predict_proba", np.array([1.0, 2.0])) is None
    assert describe_outputs(None, "decision_function", np.zeros((1, 2, 2))) is None
    assert describe_outputs(None, "predict_proba", [np.array([1.0])]) is None


def test_one_row_class_equals_numpy_argmax_with_ties_and_nan() -> None:
    """The plain-Python path for a 1-row call must name the class numpy's argmax names."""
    rng = np.random.default_rng(3)
    model = Classifier(["setosa", "versicolor", "virginica"])
    rows = [rng.dirichlet(np.ones(3)) for _ in range(200)]
    rows += [np.array([0.4, 0.4, 0.2]), np.array([0.2, 0.4, 0.4]), np.array([1 / 3] * 3)]  # ties: first
    rows += [np.array([0.1, np.nan, 0.5]), np.array([np.nan, 0.2, 0.3]), np.array([0.1, 0.2, np.nan])]
    rows += [np.array([np.inf, 0.0, -np.inf]), np.array([0.0, 0.0, 0.0])]
    for row in rows:
        matrix = row.reshape(1, 3)
        expected = model.classes_[matrix.argmax(axis=1)].tolist()
        assert describe_outputs(model, "predict_proba", matrix).predictions == expected, row
    integer_classes = Classifier([3, 7])
    assert describe_outputs(integer_classes, "predict_proba", np.array([[0.3, 0.7]])).predictions == [7]
    assert (
        type(describe_outputs(integer_classes, "predict_proba", np.array([[0.3, 0.7]])).predictions[0]) is int
    )
