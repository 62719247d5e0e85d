"""Canonical classes and the wire's probability rows: labels from JSON, files and the
collector meet as one class; bad rows become NaN (countable), never a crash."""

import numpy as np
import pytest

from modeltel.performance import PerformanceInputError, class_labels, label_keys, proba_matrix


def test_labels_of_every_source_are_one_class() -> None:
    assert class_labels(np.array([1.0, 0.0])).tolist() == ["1", "0"]
    assert class_labels(np.array([1, 0])).tolist() == ["1", "0"]
    assert class_labels([1, "1", 1.0, True, 2.5]).tolist() == ["1", "1", "1", "True", "2.5"]
    assert class_labels(np.array(["a", "b"])).tolist() == ["a", "b"]
    assert class_labels(np.array([], dtype=float)).tolist() == []


@pytest.mark.parametrize("bad", [[None, "a"], [float("nan"), 1.0], [{"a": 1}, "b"], [[1], 2]])
def test_missing_and_non_scalar_labels_are_refused(bad) -> None:
    with pytest.raises(PerformanceInputError, match="1 of 2 labels"):
        class_labels(bad)


def test_label_keys_mask_what_class_labels_refuses() -> None:
    keys, usable = label_keys([1, None, "b", float("nan"), [1], 2.0])
    assert keys.tolist() == ["1", "", "b", "", "", "2"]
    assert usable.tolist() == [True, False, True, False, False, True]
    keys, usable = label_keys(np.array([0.0, np.nan, 1.0]))
    assert keys.tolist() == ["0", "", "1"] and usable.tolist() == [True, False, True]


def test_proba_matrix_from_wire_rows() -> None:
    rows = [
        {"setosa": 0.9, "versicolor": 0.1, "virginica": 0.0},
        [0.2, 0.3, 0.5],  # an array in class order
        {"setosa": 0.5, "virginica": 0.5},  # a class missing: NaN there
        None,
        {"setosa": "high", "versicolor": 0.1, "virginica": 0.9},  # not a number
        [0.5, 0.5],  # wrong length
        {1: 0.3, "versicolor": 0.7, "virginica": 0.0},  # an unknown key is ignored
    ]
    got = proba_matrix(rows, ["setosa", "versicolor", "virginica"])
    np.testing.assert_allclose(got[0], [0.9, 0.1, 0.0])
    np.testing.assert_allclose(got[1], [0.2, 0.3, 0.5])
    assert np.isnan(got[2, 1]) and np.isnan(got[3]).all() and np.isnan(got[4, 0])
    assert np.isnan(got[5]).all() and np.isnan(got[6, 0]) and got[6, 1] == 0.7
    # keys canonicalised like labels: a model with integer classes sends "0", "1"
    np.testing.assert_allclose(proba_matrix([{"0": 0.25, "1": 0.75}], ["0", "1"]), [[0.25, 0.75]])
    # all-dict batches take a C-level path; a bool or a missing class there falls back per row
    flagged = proba_matrix([{"0": 0.5, "1": 0.5}, {"0": True, "1": 0.5}, {"1": 1.0}], ["0", "1"])
    assert flagged[0].tolist() == [0.5, 0.5] and np.isnan(flagged[1, 0]) and np.isnan(flagged[2, 0])
    assert proba_matrix([], ["0", "1"]).shape == (0, 2)
