"""The shipped profile of the example iris model is what its documented commands build, so the
compose stack and the end-to-end tests compare traffic with the data they claim to."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import BIN, EXAMPLES, REPO

SHIPPED = REPO / "deploy" / "profiles" / "iris-classifier-1.json"


def build(tmp_path: Path) -> dict:
    reference = tmp_path / "iris-reference.csv"
    subprocess.run([sys.executable, str(EXAMPLES / "iris_reference.py"), "-o", str(reference)], check=True)
    output = tmp_path / "profile.json"
    subprocess.run(
        [str(BIN / "modeltel"), "profile", "build", str(reference), "-o", str(output),
         "--model", "iris-classifier", "--version", "1",
         "--prediction-column", "prediction", "--target-column", "species"],
        check=True, capture_output=True,
    )  # fmt: skip
    return json.loads(output.read_text())


def test_shipped_profile_is_rebuilt_by_its_commands(tmp_path: Path) -> None:
    rebuilt, shipped = build(tmp_path), json.loads(SHIPPED.read_text())
    rebuilt.pop("created"), shipped.pop("created")
    assert rebuilt == shipped


def test_profile_holds_the_traffic_features_outputs_and_a_performance_baseline() -> None:
    profile = json.loads(SHIPPED.read_text())
    roles = {feature["name"]: feature["role"] for feature in profile["features"]}
    assert [name for name, role in roles.items() if role == "feature"] == [
        "sepal_length", "sepal_width", "petal_length", "petal_width",
    ]  # fmt: skip
    assert roles["prediction"] == "prediction" and roles["species"] == "target"
    performance = profile["performance"]
    assert performance["classes"] == ["setosa", "versicolor", "virginica"]
    assert 0.9 < performance["baseline"]["accuracy"] <= 1.0
