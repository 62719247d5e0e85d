"""Activation by ``MODELTEL_ENABLED`` through the installed .pth hook, in fresh interpreters."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env

PROBE = """
import json, sys
import fastapi
from opentelemetry import trace
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m == "modeltel" or m.startswith("modeltel.")),
    "fastapi_patched": getattr(fastapi.FastAPI, "_modeltel_instrumented", False),
    "tracer_provider": type(trace.get_tracer_provider()).__name__,
}))
"""


def probe(**env: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout)


def test_pep_829_entry_point_resolves_to_the_start_up_hook() -> None:
    """Python >= 3.15 calls what modeltel.start names; older Pythons cannot run it, so check the target."""
    import modeltel

    site_packages = Path(modeltel.__file__).resolve().parent.parent
    entries = [
        line.strip() for line in (site_packages / "modeltel.start").read_text().splitlines() if line.strip()
    ]
    assert entries == ["modeltel._startup:activate_from_environment"]
    module_name, _, attribute = entries[0].partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    pth = (site_packages / "modeltel.pth").read_text()
    assert pth.count("\n") == 1 and pth.startswith("import os;") and "activate_from_environment()" in pth


def test_unset_imports_nothing_of_ours() -> None:
    result = probe()
    assert result["modules"] == []
    assert result["fastapi_patched"] is False


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_false_values_leave_the_process_alone(value: str) -> None:
    result = probe(MODELTEL_ENABLED=value)
    assert not [m for m in result["modules"] if m.startswith("modeltel.agent")]
    assert result["fastapi_patched"] is False


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_enabled_patches_fastapi_on_import_but_defers_providers(value: str) -> None:
    result = probe(MODELTEL_ENABLED=value)
    assert result["fastapi_patched"] is True
    # No provider until the process serves: supervisors that only import the app stay clean.
    assert result["tracer_provider"] == "ProxyTracerProvider"


def test_first_prediction_builds_providers_and_sdk_disabled_is_honoured() -> None:
    script = (
        "from modeltel.agent import record_prediction; from opentelemetry import trace;"
        "record_prediction({'x': 1.0}, 1, model='m');"
        "print(type(trace.get_tracer_provider()).__name__)"
    )

    def run(**env: str) -> str:
        environment = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", **env)
        completed = subprocess.run(
            [sys.executable, "-c", script],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return completed.stdout.strip()

    assert run(MODELTEL_ENABLED="1", OTEL_BLRP_EXPORT_TIMEOUT="100") == "TracerProvider"
    assert run(MODELTEL_ENABLED="1", OTEL_SDK_DISABLED="true") == "ProxyTracerProvider"
    assert run() == "ProxyTracerProvider"


def test_enabled_start_up_imports_nothing_heavy() -> None:
    """bench/startup.py measures the time; this keeps heavy imports from creeping back in."""
    script = "import sys, json; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env=clean_env(MODELTEL_ENABLED="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(json.loads(completed.stdout)) - {
        "json",
        "json.decoder",
        "json.scanner",
        "json.encoder",
        "_json",
    }
    assert "modeltel.agent.activation" in loaded
    heavy = {
        "typing",
        "asyncio",
        "logging",
        "threading",
        "wrapt",
        "opentelemetry",
        "importlib.metadata",
        "inspect",
    }
    assert not heavy & loaded, heavy & loaded


def test_serving_a_request_does_not_load_numpy_for_an_app_that_does_not_use_it() -> None:
    """numpy is one of modeltel's dependencies, but a web app without it (a proxy to a remote
    model, say) should not pay its import (~70 ms) on a request: the metrics import it on the
    export thread, at the first fold (an hour away here)."""
    script = """
import json, sys
import fastapi
from fastapi.testclient import TestClient
app = fastapi.FastAPI()
@app.get("/ping")
def ping():
    return {"ok": True}
with TestClient(app) as client:
    assert client.get("/ping").status_code == 200
from modeltel.agent.telemetry import pipeline
print(json.dumps({"pipeline": pipeline.current() is not None, "numpy": "numpy" in sys.modules}))
"""
    environment = clean_env(
        MODELTEL_ENABLED="1",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_BSP_SCHEDULE_DELAY="3600000",
        OTEL_METRIC_EXPORT_INTERVAL="3600000",
    )
    command = [sys.executable, "-c", script]
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {"pipeline": True, "numpy": False}
