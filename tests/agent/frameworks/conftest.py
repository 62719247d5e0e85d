"""What the framework hooks hand to the capture core, seen through ``capture.add_listener``.

In-process tests install the hooks on the already-imported libraries (the path a late
``activate()`` takes); ``run_enabled`` checks the at-import path in a fresh interpreter
started with ``MODELTEL_ENABLED=1``.
"""

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from modeltel.agent import capture
from modeltel.agent.model_call import ModelCall
from tests.conftest import clean_env

_seen: list[tuple[Any, ModelCall]] = []
capture.add_listener(lambda model, call, duration_ns: _seen.append((model, call)))


@pytest.fixture
def calls() -> list[tuple[Any, ModelCall]]:
    """The (model, call) pairs captured during the test."""
    _seen.clear()
    yield _seen
    _seen.clear()


LISTENER = """
import json, sys
from modeltel.agent import capture
seen = []
capture.add_listener(lambda model, call, duration_ns: seen.append({
    "model": type(model).__name__,
    "method": call.method,
    "feature_names": call.feature_names,
    "rows": call.rows,
    "predictions": call.predictions,
    "probabilities": None if call.probabilities is None else list(call.probabilities),
    "scores": call.scores,
    "objective": call.objective,
}))
"""


def run_enabled(script: str, **env: str) -> list[dict]:
    """Run ``script`` in a fresh interpreter with the agent enabled; what the listener saw."""
    source = LISTENER + textwrap.dedent(script) + "\nprint(json.dumps(seen))\n"
    completed = subprocess.run(
        [sys.executable, "-c", source],
        env=clean_env(
            MODELTEL_ENABLED="1",
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
            OTEL_BLRP_EXPORT_TIMEOUT="100",
            OTEL_BSP_EXPORT_TIMEOUT="100",
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])
