"""Worker processes under uvicorn and gunicorn: every prediction exported exactly once, and
each process under its own service.instance.id."""

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    BIN,
    EXAMPLES,
    Collector,
    agent_env,
    attribute_map,
    exported_log_records,
    exported_spans,
    free_port,
    launch_server,
    wait_until,
)

APPS = Path(__file__).parent / "apps"
REQUESTS = 40
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

GUNICORN = [str(BIN / "gunicorn"), "-w", "2", "-k", "uvicorn.workers.UvicornWorker"]

# (command, warm-up predictions expected: one per process that imports the app)
SERVERS = {
    "uvicorn --workers 2": (
        lambda port: [str(BIN / "uvicorn"), "warm_iris:app", "--workers", "2", "--host", "127.0.0.1",
                      "--port", str(port), "--no-access-log"],
        2,
    ),
    "gunicorn uvicorn workers": (lambda port: [*GUNICORN, "-b", f"127.0.0.1:{port}", "warm_iris:app"], 2),
    "gunicorn --preload": (
        lambda port: [*GUNICORN, "--preload", "-b", f"127.0.0.1:{port}", "warm_iris:app"], 1
    ),
}  # fmt: skip


def predictions(collector: Collector) -> list[tuple[dict, dict]]:
    return [
        (resource, record)
        for resource, record in exported_log_records(collector.process.log())
        if record.get("eventName") == "modeltel.prediction"
    ]


@pytest.mark.parametrize("server_kind", list(SERVERS))
def test_workers_export_each_prediction_once_under_their_own_instance_id(
    detailed_collector: Collector, tmp_path: Path, server_kind: str
) -> None:
    command, warm_ups = SERVERS[server_kind]
    port = free_port()
    env = agent_env(detailed_collector, MODELTEL_MODEL_NAME="iris", PYTHONPATH=f"{APPS}:{EXAMPLES}")
    server = launch_server(tmp_path, command(port), env, port)
    try:
        for _ in range(REQUESTS):  # a new connection each time, so both workers serve
            httpx.post(
                f"{server.url}/predict", json=ROW, timeout=10, headers={"Connection": "close"}
            ).raise_for_status()
        expected = REQUESTS + warm_ups
        wait_until(
            lambda: len(predictions(detailed_collector)) >= expected, timeout=30, what=f"{expected} records"
        )
        time.sleep(1.5)  # anything duplicated would arrive by now
        records = predictions(detailed_collector)
        spans = [
            span
            for _, span in exported_spans(detailed_collector.process.log())
            if span["name"] == "POST /predict"
        ]
    finally:
        server.process.stop()

    ids = Counter(attribute_map(record["attributes"])["modeltel.prediction.id"] for _, record in records)
    assert len(records) == expected, f"{len(records)} records for {expected} predictions"
    assert max(ids.values()) == 1, "a prediction was exported twice"
    assert len(spans) == REQUESTS
    pids_by_instance: dict[str, set] = {}
    for resource, _ in records:
        pids_by_instance.setdefault(resource["service.instance.id"], set()).add(resource["process.pid"])
    assert all(len(pids) == 1 for pids in pids_by_instance.values()), pids_by_instance
    assert len({pid for pids in pids_by_instance.values() for pid in pids}) == len(pids_by_instance)
    assert len(pids_by_instance) >= 2  # the workers (and, with --preload, the master's warm-up)
    assert "Traceback" not in server.process.log()
