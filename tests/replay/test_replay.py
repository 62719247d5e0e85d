"""``modeltel replay`` into a real collector, a capture server, and bad input."""

import gzip
import json
import math
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from typer.testing import CliRunner

from modeltel.cli import app
from tests.conftest import BIN, Collector, clean_env, debug_batches, free_port, wait_until

ROWS = 300


def seeded_frame(rows: int = ROWS, seed: int = 3) -> pd.DataFrame:
    """Numeric, categorical and boolean features, with NaN, ±inf and missing cells on purpose."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": rng.lognormal(10, 1, rows).round(2),
            "score": rng.normal(size=rows).round(6),
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "active": rng.random(rows) < 0.5,
            "prediction": rng.integers(0, 2, rows),
            "id": [bytes(rng.integers(0, 256, 16, dtype=np.uint8)).hex() for _ in range(rows)],
            "ts": pd.Timestamp("2024-05-01T00:00:00Z") + pd.to_timedelta(np.arange(rows) * 1500, unit="ms"),
            "label": rng.integers(0, 2, rows).astype(float),
        }
    )
    frame.loc[3, "score"] = np.nan
    frame.loc[4, "score"] = np.inf
    frame.loc[5, "score"] = -np.inf
    frame.loc[7, "plan"] = None
    frame.loc[[10, 11], "label"] = np.nan  # unlabelled rows: no label record
    return frame


def run_replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "modeltel"), "replay", *args], capture_output=True, text=True, env=clean_env(), timeout=120
    )


def received_records(collector: Collector, event: str) -> list[dict]:
    return [
        {**record, "resource": resource["resource"]}
        for batch in debug_batches(collector.process.log(), "logs")
        for resource in batch["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
        if record.get("eventName") == event
    ]


def attributes(record: dict) -> dict[str, str]:
    return {a["key"]: a["value"]["stringValue"] for a in record["attributes"]}


def expected_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_every_row_arrives_as_the_agent_would_send_it(
    detailed_collector: Collector, tmp_path: Path, file_format: str
) -> None:
    frame = seeded_frame()
    path = tmp_path / f"rows.{file_format}"
    if file_format == "csv":  # NaN written as "nan" (pandas would write an empty, missing cell)
        text = frame.assign(
            ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            score=pd.Series([str(v) for v in frame["score"].tolist()], dtype=object),
        )
        text.to_csv(path, index=False)
    else:  # NaN kept as a float (pandas → Arrow would make it a missing value)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        score = table.schema.get_field_index("score")
        pq.write_table(table.set_column(score, "score", pa.array(frame["score"].to_numpy())), path)

    result = run_replay(
        str(path), "--model", "churn", "--version", "7", "--endpoint", detailed_collector.otlp_http,
        "--id-column", "id", "--timestamp-column", "ts", "--label-column", "label",
        "--batch-size", "64", *(["--gzip"] if file_format == "csv" else []),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"replayed {ROWS} predictions and {ROWS - 2} labels" in result.stdout
    assert "rejected 0" in result.stdout

    wait_until(
        lambda: len(received_records(detailed_collector, "modeltel.label")) == ROWS - 2,
        what="every prediction and label in the debug exporter's output",
    )
    assert detailed_collector.value("modeltel_prediction_records_total", ml_model_name="churn") == ROWS
    predictions = received_records(detailed_collector, "modeltel.prediction")
    by_id = {attributes(record)["modeltel.prediction.id"]: record for record in predictions}
    assert len(predictions) == len(by_id) == ROWS
    features = ["age", "income", "score", "plan", "active"]
    for row in frame.to_dict("records"):
        record = by_id[row["id"]]
        assert attributes(record)["ml.model.name"] == "churn"
        assert attributes(record)["ml.model.version"] == "7"
        assert record["severityNumber"] == "SEVERITY_NUMBER_INFO" or record["severityNumber"] == 9
        assert int(record["timeUnixNano"]) == row["ts"].value  # pandas: ns since the epoch
        body = json.loads(record["body"]["stringValue"])
        assert body["prediction"] == row["prediction"]
        expected = {name: expected_value(row[name]) for name in features}
        expected["plan"] = None if pd.isna(row["plan"]) else row["plan"]  # missing: null, not dropped
        assert body["features"] == expected, row["id"]
        assert {a["key"]: a["value"]["stringValue"] for a in record["resource"]["attributes"]}[
            "service.name"
        ] == "modeltel-replay"

    labels = {
        attributes(record)["modeltel.prediction.id"]: json.loads(record["body"]["stringValue"])["label"]
        for record in received_records(detailed_collector, "modeltel.label")
    }
    expected_labels = {
        row["id"]: row["label"] for row in frame.to_dict("records") if not math.isnan(row["label"])
    }
    assert labels == expected_labels


def test_fresh_ids_epoch_times_and_rate(detailed_collector: Collector, tmp_path: Path) -> None:
    frame = seeded_frame(rows=200).drop(columns=["id", "label"])
    frame["ts"] = frame["ts"].dt.as_unit("ms").astype("int64")  # epoch milliseconds
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path)
    result = run_replay(
        str(path), "--model", "fraud", "--endpoint", detailed_collector.otlp_http,
        "--timestamp-column", "ts", "--rate", "400", "--exclude", "active",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seconds = float(result.stdout.split(" s (")[0].rsplit(" ", 1)[1])
    # 200 rows at 400/s with a 40-row burst: at least (200 - 40) / 400 = 0.4 s.
    assert 0.38 <= seconds < 5, result.stdout
    wait_until(
        lambda: len(received_records(detailed_collector, "modeltel.prediction")) == 200, what="200 rows"
    )
    records = received_records(detailed_collector, "modeltel.prediction")
    ids = [attributes(record)["modeltel.prediction.id"] for record in records]
    assert len(set(ids)) == 200 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert "ml.model.version" not in attributes(records[0])
    assert sorted(int(r["timeUnixNano"]) for r in records) == (frame["ts"] * 1_000_000).tolist()
    assert "active" not in json.loads(records[0]["body"]["stringValue"])["features"]


class CaptureHandler(BaseHTTPRequestHandler):
    """Answers with the statuses queued in ``server.answers`` and keeps every request body."""

    def do_POST(self) -> None:
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.in_flight += 1  # type: ignore[attr-defined]
            server.most_in_flight = max(server.most_in_flight, server.in_flight)  # type: ignore[attr-defined]
        time.sleep(server.delay)  # type: ignore[attr-defined]
        with server.lock:  # type: ignore[attr-defined]
            server.in_flight -= 1  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        status, headers, payload = self.server.answers.pop(0) if self.server.answers else (200, {}, b"")  # type: ignore[attr-defined]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), CaptureHandler)
    server.bodies, server.answers = [], []  # type: ignore[attr-defined]
    server.lock, server.delay, server.in_flight, server.most_in_flight = threading.Lock(), 0.0, 0, 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_retries_on_503_and_429_then_counts_partial_rejections(
    capture: ThreadingHTTPServer, tmp_path: Path
) -> None:
    path = tmp_path / "rows.csv"
    seeded_frame(rows=20).drop(columns=["ts", "label"]).to_csv(path, index=False)
    partial = ExportLogsServiceResponse(
        partial_success=ExportLogsPartialSuccess(rejected_log_records=3, error_message="3 bodies invalid")
    ).SerializeToString()
    capture.answers.extend(  # type: ignore[attr-defined]
        [(503, {"Retry-After": "0.3"}, b"queue full"), (429, {}, b"slow down"), (200, {}, partial)]
    )
    port = capture.server_address[1]
    result = run_replay(str(path), "--model", "m", "--endpoint", f"http://127.0.0.1:{port}/", "--gzip")
    assert result.returncode == 1, result.stderr  # rows were rejected
    assert "rejected 3, retries 2" in result.stdout
    assert "3 bodies invalid" in result.stderr
    bodies = capture.bodies  # type: ignore[attr-defined]
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]  # the same batch, resent
    request = ExportLogsServiceRequest.FromString(bodies[0])
    assert len(request.resource_logs[0].scope_logs[0].log_records) == 20


def test_concurrency_keeps_several_requests_in_flight(capture: ThreadingHTTPServer, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    seeded_frame(rows=200).to_csv(path, index=False)
    capture.delay = 0.2  # type: ignore[attr-defined]
    port = capture.server_address[1]
    result = run_replay(
        str(path), "--model", "m", "--endpoint", f"http://127.0.0.1:{port}", "--batch-size", "20",
        "--concurrency", "4", "--id-column", "id", "--label-column", "label",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert capture.most_in_flight >= 2  # type: ignore[attr-defined]
    requests = [ExportLogsServiceRequest.FromString(body) for body in capture.bodies]  # type: ignore[attr-defined]
    records = [r for q in requests for r in q.resource_logs[0].scope_logs[0].log_records]
    # Every prediction arrives before the first label; rows 10 and 11 have none.
    assert [r.event_name for r in records] == ["modeltel.prediction"] * 200 + ["modeltel.label"] * 198


def test_unreachable_collector_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    seeded_frame(rows=20).to_csv(path, index=False)
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run_replay(str(path), "--model", "m", "--endpoint", endpoint, "--max-retry-seconds", "1")
    assert result.returncode == 1
    assert "gave up" in result.stderr and endpoint in result.stderr


def invoke(*args: str):
    return CliRunner().invoke(app, ["replay", *args])


def test_bad_input_exits_2_and_says_why(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    seeded_frame(rows=20).to_csv(csv, index=False)

    result = invoke(str(csv), "--model", "m", "--id-column", "uid", "--label-column", "truth")
    assert result.exit_code == 2
    assert "uid, truth" in result.output and "it has: age" in result.output

    broken = tmp_path / "rows.parquet"
    broken.write_bytes(b"not parquet at all")
    result = invoke(str(broken), "--model", "m")
    assert result.exit_code == 2 and "cannot be read as Parquet" in result.output

    result = invoke(str(tmp_path / "absent.csv"), "--model", "m")
    assert result.exit_code == 2 and "no such file" in result.output

    times = seeded_frame(rows=20).drop(columns=["ts"])
    times["ts"] = ["2024-05-01T00:00:00Z"] * 20
    times.loc[13, "ts"] = "yesterday"
    times.to_csv(csv, index=False)
    result = invoke(str(csv), "--model", "m", "--timestamp-column", "ts")
    assert result.exit_code == 2 and "row 14: ts is 'yesterday'" in result.output

    ids = seeded_frame(rows=20)
    ids.loc[2, "id"] = "row-3"
    ids.to_csv(csv, index=False)
    result = invoke(str(csv), "--model", "m", "--id-column", "id")
    assert result.exit_code == 2 and "row 3: id is 'row-3'" in result.output
