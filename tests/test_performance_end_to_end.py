"""Acceptance of label joins: a scikit-learn classifier served with the agent enabled streams
its predictions to a real collector today; the labels come "later", out of order, from two
sources (the agent's ``record_label`` events and ``POST /api/v1/labels``), across a SIGTERM
and a kill -9 of the collector. The exported realized metrics must equal scikit-learn's
metric functions on the same rows."""

import os
import signal
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn import metrics as sk

from tests.collector.processors.performance.apps.cancer_server import MODEL, VERSION, split
from tests.conftest import (
    BIN,
    Collector,
    agent_env,
    free_port,
    launch_collector,
    launch_server,
    wait_until,
)

APPS = Path(__file__).parent / "collector" / "processors" / "performance" / "apps"


def performance_collector(tmp_path: Path, ports: tuple[int, int, int], name: str) -> Collector:
    def configure(config: dict) -> None:
        config["processors"]["performance"] = {
            "state_dir": str(tmp_path / "state"),
            "evaluation_interval": "300ms",
            "windows": ["1h", "30d"],
        }
        config["service"]["pipelines"]["logs"]["processors"] = ["predictions", "performance"]

    return launch_collector(tmp_path, ports=ports, configure=configure, name=name)


def exported(collector: Collector, name: str, **labels: str) -> dict[str, float]:
    """metric label -> value of the samples of ``name`` matching ``labels``."""
    return {
        sample.labels["metric"]: sample.value
        for sample in collector.samples()
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    }


def post_labels(collector: Collector, items: list[dict]) -> dict:
    response = httpx.post(
        f"http://127.0.0.1:{collector.metrics_port}/api/v1/labels", json={"labels": items}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def joined(collector: Collector) -> float:
    return collector.value("modeltel_labels_joined_total", ml_model_name=MODEL)


@pytest.mark.timeout(240)
def test_labels_later_out_of_order_across_restarts_equal_scikit_learn(tmp_path: Path) -> None:
    ports = (free_port(), free_port(), free_port())
    collector = performance_collector(tmp_path, ports, "collector-1")
    env = agent_env(collector, MODELTEL_MODEL_NAME=MODEL, MODELTEL_MODEL_VERSION=VERSION)
    port = free_port()
    server = launch_server(
        tmp_path,
        [str(BIN / "uvicorn"), "cancer_server:app", "--app-dir", str(APPS), "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        {**env, "PYTHONPATH": str(Path(__file__).parent.parent)},
        port,
    )  # fmt: skip
    try:
        _, test_x, _, test_y = split()
        ids: list[str] = []
        malignant: list[float] = []
        for start in range(0, len(test_x), 25):
            chunk = test_x.iloc[start : start + 25]
            response = httpx.post(
                f"{server.url}/predict", json={"rows": chunk.to_dict("records")}, timeout=30
            )
            assert response.status_code == 200, response.text
            ids += response.headers["x-modeltel-prediction-id"].split(",")
            malignant += response.json()["malignant_probability"]
        assert len(ids) == len(test_y) == len(set(ids))
        wait_until(
            lambda: collector.value("modeltel_join_store_predictions") == len(ids), timeout=30,
            what="every prediction in the join store",
        )  # fmt: skip

        order = np.random.default_rng(3).permutation(len(ids))  # labels arrive out of order
        first, second, third = np.array_split(order, 3)

        # 1. a third through the API, with a duplicate, a conflicting duplicate and an unknown id
        items = [{"prediction_id": ids[i], "label": int(test_y[i])} for i in first]
        items += [items[0], {**items[1], "label": 1 - items[1]["label"]}]
        items.append({"prediction_id": "ab" * 16, "label": 1})
        answer = post_labels(collector, items)
        outcome = [answer[k] for k in ("joined", "duplicate", "conflicting_duplicate", "pending")]
        assert outcome == [len(first), 1, 1, 1]

        # 2. graceful restart, then a third through the agent's record_label (OTLP label events)
        collector.process.stop()
        collector = performance_collector(tmp_path, ports, "collector-2")
        assert joined(collector) == 0  # counters restart; the joins themselves are in the store
        for i in second:
            response = httpx.post(
                f"{server.url}/feedback", json={"prediction_id": ids[i], "label": int(test_y[i])}, timeout=10
            )
            assert response.json() == {"recorded": True}
        wait_until(lambda: joined(collector) == len(second), timeout=30, what="agent labels joined")

        # 3. the last third through the API, then kill -9 right after the acknowledgement
        post_labels(collector, [{"prediction_id": ids[i], "label": int(test_y[i])} for i in third])
        os.kill(collector.process.popen.pid, signal.SIGKILL)
        collector.process.popen.wait()
        collector = performance_collector(tmp_path, ports, "collector-3")

        truth = test_y
        predicted = (np.asarray(malignant) < 0.5).astype(int)
        proba = np.column_stack([malignant, 1 - np.asarray(malignant)])
        expected = {
            "accuracy": sk.accuracy_score(truth, predicted),
            "precision": sk.precision_score(truth, predicted),
            "recall": sk.recall_score(truth, predicted),
            "f1": sk.f1_score(truth, predicted),
            "precision_macro": sk.precision_score(truth, predicted, average="macro"),
            "recall_macro": sk.recall_score(truth, predicted, average="macro"),
            "f1_macro": sk.f1_score(truth, predicted, average="macro"),
            "roc_auc": sk.roc_auc_score(truth, proba[:, 1]),
            "log_loss": sk.log_loss(truth, proba),
        }

        def complete() -> dict[str, float]:
            coverage = collector.value("modeltel_label_coverage_ratio", ml_model_name=MODEL, window="30d")
            return exported(collector, "modeltel_model_performance", ml_model_name=MODEL, window="30d") if (
                coverage == 1.0
            ) else {}  # fmt: skip

        realized = wait_until(complete, timeout=30, what="every label joined after kill -9")
        for name, value in expected.items():
            # probabilities are stored as float32: 7 significant digits
            assert realized[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name
        assert "calibration_error" in realized
        for series in ("precision", "recall", "f1"):  # the positive class is scikit-learn's pos_label=1
            assert realized[series] != pytest.approx(expected[f"{series}_macro"])
        assert collector.value("modeltel_labels_pending") == 1  # the unknown id waits for its TTL
        status = httpx.get(f"http://127.0.0.1:{ports[2]}/api/v1/performance/{MODEL}", timeout=5).json()
        window = {w["window"]: w for w in status["versions"][0]["windows"]}["30d"]
        assert (window["predictions"], window["labelled"]) == (len(ids), len(ids))
    finally:
        server.process.stop()
        collector.process.stop()
