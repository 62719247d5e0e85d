"""Grafana dashboards: checked for structure, and every query run against a real Prometheus."""

import json
import math
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.collector.otlp_batches import logs_request, prediction_record
from tests.conftest import REPO, Collector, Prometheus, agent_env, launch_model_server, wait_until

DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
PROVISIONING = REPO / "dashboards" / "provisioning"
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__all"}
# What a Grafana variable expands to when "All" is selected, and a rate window that fits a short test.
SUBSTITUTIONS = {"$__rate_interval": "30s", "$__interval": "15s", "$__range": "5m"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def provisioned_datasource_uids() -> set[str]:
    uids = set()
    for path in (PROVISIONING / "datasources").glob("*.yaml"):
        uids |= {source["uid"] for source in yaml.safe_load(path.read_text())["datasources"]}
    return uids


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = [
        (f"panel {panel['title']!r} {target['refId']}", target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    found += [(f"variable {v['name']}", v["query"]["query"]) for v in dashboard["templating"]["list"]]
    return found


def expand(expr: str, dashboard: dict) -> str:
    for variable in dashboard["templating"]["list"]:
        expr = expr.replace(f"${variable['name']}", variable.get("allValue", ".*"))
    for name, value in SUBSTITUTIONS.items():
        expr = expr.replace(name, value)
    return expr


def test_there_are_dashboards() -> None:
    assert DASHBOARDS, "dashboards/*.json"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_structure(path: Path) -> None:
    dashboard = load(path)
    uids = provisioned_datasource_uids()
    assert dashboard["uid"].startswith("modeltel-") and len(dashboard["uid"]) <= 40
    defined = {variable["name"] for variable in dashboard["templating"]["list"]} | GRAFANA_BUILTINS
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in uids, f"{panel['title']}: datasource not provisioned"
        assert panel.get("targets"), f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids
            assert target["expr"].strip()
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] in uids
    for where, expr in queries(dashboard):
        for used in re.findall(r"\$(\w+)", expr):
            assert used in defined, f"{where} uses undefined variable ${used}"


def test_provisioning_points_at_the_dashboards() -> None:
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "modeltel.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards:{provider['options']['path']}:ro" in mounts
    assert "./dashboards/provisioning:/etc/grafana/provisioning:ro" in mounts


def steady_traffic(url: str, stop: threading.Event) -> None:
    """About 20 requests a second until stopped, so rates over a window are real."""
    with httpx.Client(base_url=url, timeout=10) as client:
        index = 0
        while not stop.wait(0.05):
            row = {
                "sepal_length": 5.0 + index % 3,
                "sepal_width": 3.1,
                "petal_length": 1.5,
                "petal_width": 0.2,
            }
            client.post("/predict", json=row).raise_for_status()
            index += 1


def finite_result(prometheus: Prometheus, promql: str) -> bool:
    result = prometheus.query(promql)
    return bool(result) and all(math.isfinite(float(series["value"][1])) for series in result)


def test_every_query_returns_data_from_live_traffic(
    collector: Collector, prometheus: Prometheus, tmp_path: Path
) -> None:
    server = launch_model_server(tmp_path, agent_env(collector))
    stop = threading.Event()
    traffic = threading.Thread(target=steady_traffic, args=(server.url, stop), daemon=True)
    traffic.start()
    try:
        # What the collector panels exist for: a rejected request and an invalid prediction.
        otlp, protobuf = collector.otlp_http, {"Content-Type": "application/x-protobuf"}
        invalid = logs_request([prediction_record({}, 0, body="not json")]).SerializeToString()
        for _ in range(3):
            httpx.post(f"{otlp}/v1/logs", content=b"\x0a\xff garbage", headers=protobuf)
            httpx.post(f"{otlp}/v1/logs", content=invalid, headers=protobuf)
            time.sleep(1.5)

        wait_until(
            lambda: prometheus.query("sum(rate(http_server_request_duration_seconds_count[30s])) > 5"),
            timeout=30,
            what="request rates in Prometheus",
        )
        for path in DASHBOARDS:
            dashboard = load(path)
            for where, expr in queries(dashboard):
                if expr.startswith("label_values("):
                    metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", expr).groups()
                    assert prometheus.label_values(label, metric), f"{path.name} {where}: no values"
                    continue
                promql = expand(expr, dashboard)
                wait_until(
                    lambda promql=promql: finite_result(prometheus, promql),
                    timeout=20,
                    what=f"{path.name} {where}",
                )
        overview = load(REPO / "dashboards" / "model-overview.json")
        [error_ratio] = [panel for panel in panels(overview) if panel["title"] == "Error ratio (5xx)"]
        [ratio] = prometheus.query(expand(error_ratio["targets"][0]["expr"], overview))
        assert float(ratio["value"][1]) == 0.0  # no 5xx was served
    finally:
        stop.set()
        traffic.join(10)
        server.process.stop()
