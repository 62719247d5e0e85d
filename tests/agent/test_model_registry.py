"""Model identity: register_model > MODELTEL_MODEL_NAME/VERSION > the model's own name."""

import gc
import subprocess
import sys

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modeltel.agent import model_registry
from modeltel.agent.model_call import ModelIdentity
from modeltel.agent.model_registry import identity, register_model
from tests.conftest import clean_env


@pytest.fixture
def environment(monkeypatch):
    def set_environment(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        model_registry.reset_environment_cache()

    monkeypatch.delenv("MODELTEL_MODEL_NAME", raising=False)
    monkeypatch.delenv("MODELTEL_MODEL_VERSION", raising=False)
    model_registry.reset_environment_cache()
    yield set_environment
    model_registry.reset_environment_cache()


def test_class_names(environment) -> None:
    assert identity(LogisticRegression()) == ModelIdentity("LogisticRegression")
    pipe = make_pipeline(StandardScaler(), make_pipeline(StandardScaler(), LogisticRegression()))
    assert identity(pipe).name == "Pipeline(Pipeline(LogisticRegression))"


def test_precedence(environment) -> None:
    registered, plain = LogisticRegression(), LogisticRegression()
    register_model(registered, name="churn", version=3)
    environment(MODELTEL_MODEL_NAME="service-model", MODELTEL_MODEL_VERSION="2024.1")
    assert identity(registered) == ModelIdentity("churn", "3")
    assert identity(plain) == ModelIdentity("service-model", "2024.1")


def test_environment_parts_complete_the_class_name(environment) -> None:
    environment(MODELTEL_MODEL_VERSION="9")
    assert identity(LogisticRegression()) == ModelIdentity("LogisticRegression", "9")


def test_environment_is_read_once(environment, monkeypatch) -> None:
    environment(MODELTEL_MODEL_NAME="first")
    assert identity(object()).name == "first"
    monkeypatch.setenv("MODELTEL_MODEL_NAME", "second")
    assert identity(object()).name == "first"


def test_registration_does_not_keep_the_model_alive(environment) -> None:
    model = register_model(LogisticRegression(), name="temporary")
    key = id(model)
    assert key in model_registry._registered
    del model
    gc.collect()
    assert key not in model_registry._registered


def test_re_registering_replaces_and_unreferenceable_objects_work(environment) -> None:
    model = register_model(LogisticRegression(), name="a")
    register_model(model, name="b", version="2")
    assert identity(model) == ModelIdentity("b", "2")
    numbers = register_model([1, 2], name="not weakly referenceable")  # list: no weakref support
    assert identity(numbers).name == "not weakly referenceable"
    assert identity([1, 2]).name == "list"  # an equal object is not the registered one
    with pytest.raises(ValueError):
        register_model(model, name="")


def test_register_model_is_exported_lazily() -> None:
    script = (
        "import sys, modeltel.agent as agent; before = 'modeltel.agent.model_registry' in sys.modules;"
        "print(before, agent.register_model.__module__, 'register_model' in agent.__all__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "modeltel.agent.model_registry", "True"]


def test_onnx_sessions_are_named_by_graph_then_file(environment) -> None:
    class Meta:
        graph_name, version = "fraud_graph", 4

    class InferenceSession:  # what identity reads of onnxruntime's class
        def __init__(self, meta: object, path: str) -> None:
            self._meta, self._model_path = meta, path

        def get_modelmeta(self) -> object:
            if self._meta is None:
                raise RuntimeError("no metadata")
            return self._meta

    assert identity(InferenceSession(Meta(), "/models/x.onnx")) == ModelIdentity("fraud_graph", "4")
    assert identity(InferenceSession(None, "/models/fraud-v2.onnx")) == ModelIdentity("fraud-v2")
