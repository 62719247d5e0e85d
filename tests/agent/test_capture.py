"""Zero-code capture in a plain Python process (no web framework), end to end to a collector."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import (
    Collector,
    agent_env,
    attribute_map,
    exported_log_records,
    exported_spans,
    wait_until,
)

SCRIPT = """
import json
import numpy as np, pandas as pd
from sklearn.linear_model import LinearRegression
rng = np.random.default_rng(0)
frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["age", "income", "tenure"])
model = LinearRegression().fit(frame, frame["age"] * 2.0)
try:
    model.predict(np.zeros((2, 5)))          # wrong width: sklearn raises ValueError
except ValueError as error:
    raised = type(error).__name__
values = model.predict(frame.head(3)).tolist()
print(json.dumps({"raised": raised, "values": values}))
"""


def test_batch_rows_errors_and_spans_from_a_plain_script(
    detailed_collector: Collector, tmp_path: Path
) -> None:
    env = agent_env(detailed_collector, MODELTEL_MODEL_NAME="ages", MODELTEL_MODEL_VERSION="2")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["raised"] == "ValueError"  # the model's own exception reached the caller unchanged

    def records() -> list[dict]:
        log = detailed_collector.process.log()
        return [r for _, r in exported_log_records(log) if r.get("eventName") == "modeltel.prediction"]

    wait_until(lambda: len(records()) == 3, what="one record per row of the 3-row batch")
    errors = {"ml_model_name": "ages", "error_type": "ValueError"}
    wait_until(
        lambda: detailed_collector.value("modeltel_model_errors_total", **errors) == 1,
        what="the failed call counted by error type",
    )
    bodies = [json.loads(r["body"]["stringValue"]) for r in records()]
    assert [list(b["features"]) for b in bodies] == [["age", "income", "tenure"]] * 3
    assert [b["prediction"] for b in bodies] == out["values"]
    spans = [
        span
        for _, span in exported_spans(detailed_collector.process.log())
        if span["name"] == "model.predict"
    ]
    assert len(spans) == 2
    failed = [s for s in spans if s.get("status", {}).get("code") == "STATUS_CODE_ERROR"]
    assert len(failed) == 1 and failed[0]["events"][0]["name"] == "exception"
    ok = next(s for s in spans if s not in failed)
    assert attribute_map(ok["attributes"])["ml.model.batch_size"] == "3"
    # Rows of one batch share the call's span.
    assert {r["spanId"] for r in records()} == {ok["spanId"]}
    assert (
        detailed_collector.value("modeltel_model_inference_duration_seconds_count", ml_model_name="ages") == 2
    )


UNTRACED = """
import numpy as np
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(1)
x = rng.normal(size=(60, 2))
model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
for row in x[:20]:
    model.predict_proba(row.reshape(1, -1))
"""


def test_calls_outside_any_trace_whose_own_trace_is_dropped_still_log_their_rows(
    detailed_collector: Collector,
) -> None:
    """A batch job's calls start their own root span; with traces sampled away that span is
    not recorded, and the rows (sampled by their own rate) must still be logged, without ids
    of a trace that was never sent."""
    env = agent_env(detailed_collector, MODELTEL_MODEL_NAME="untraced", MODELTEL_TRACES_SAMPLE_RATE="0")
    result = subprocess.run(
        [sys.executable, "-c", UNTRACED], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "could not record" not in result.stderr

    def records() -> list[dict]:
        log = detailed_collector.process.log()
        return [r for _, r in exported_log_records(log) if r.get("eventName") == "modeltel.prediction"]

    wait_until(lambda: len(records()) == 20, what="one record per call")
    assert not any(r.get("traceId") for r in records())
    assert not [
        s for _, s in exported_spans(detailed_collector.process.log()) if s["name"] == "model.predict"
    ]
