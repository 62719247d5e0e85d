"""Streaming drift processor throughput on one core, and its memory over millions of records.

Batches are real OTLP logs requests of 512 ``modeltel.prediction`` records with 25 numeric
features, a prediction and two class probabilities, built once. Each batch goes through the
processor's two stages, timed separately:

* decode: protobuf records -> (model, version) groups of decoded JSON bodies (``decode_batch``);
* count:  groups -> columns -> ``WindowCounts.add`` per window, window closes and evaluation
          (``DriftProcessor.ingest``), i.e. everything after decoding.

Event time advances so that tumbling windows close every ``--records-per-window`` records,
each close evaluating the window and the long view. The baseline, in the same run, is the
naive design the processor avoids: one ``WindowCounts.add`` call per record. RSS is sampled
as records flow; flat means the state does not grow with traffic.

    python bench/drift_stream.py [--records 2000000] [--cpu 0]
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core: BLAS helper threads would only contend
import argparse
import asyncio
import time

import numpy as np
import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from modeltel.collector.component import Host
from modeltel.collector.processors.drift import DriftConfig, DriftProcessor
from modeltel.collector.processors.drift.columns import ColumnBuilder
from modeltel.collector.processors.drift.records import decode_batch
from modeltel.drift import Profile, WindowCounts, build_profile

FEATURES = [f"f{i:02d}" for i in range(25)]
BATCH = 512
NS = 1_000_000_000


def rss_bytes() -> int:
    """Resident set size now (Linux /proc), without a dependency."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_batch(rng: np.random.Generator) -> ExportLogsServiceRequest:
    values = rng.normal(size=(BATCH, len(FEATURES))).round(6)
    score = 1 / (1 + np.exp(-values[:, 0]))
    records = []
    for row, p in zip(values.tolist(), score.tolist(), strict=True):
        body = {"features": dict(zip(FEATURES, row, strict=True)), "prediction": int(p > 0.5),
                "probabilities": {"0": 1 - p, "1": p}}  # fmt: skip
        records.append(
            LogRecord(
                time_unix_nano=time.time_ns(),
                event_name="modeltel.prediction",
                body=AnyValue(string_value=orjson.dumps(body).decode()),
                trace_id=rng.bytes(16),
                attributes=[
                    attribute("ml.model.name", "bench"),
                    attribute("ml.model.version", "1"),
                    attribute("modeltel.prediction.id", rng.bytes(16).hex()),
                    KeyValue(key="modeltel.sample_rate", value=AnyValue(double_value=0.5)),
                ],
            )
        )
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])])


def reference(rng: np.random.Generator) -> Profile:
    columns = {name: rng.normal(size=50_000) for name in FEATURES}
    score = 1 / (1 + np.exp(-columns[FEATURES[0]]))
    columns.update(prediction=(score > 0.5).astype(int), proba_0=1 - score, proba_1=score)
    return build_profile(
        columns,
        model="bench",
        version="1",
        prediction_columns=["prediction"],
        score_columns=["proba_0", "proba_1"],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--records-per-window", type=int, default=500_000)
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    rng = np.random.default_rng(0)
    profile = reference(rng)
    batches = [make_batch(rng) for _ in range(16)]
    processor = DriftProcessor("drift", DriftConfig(window="1s", long_window="1h", allowed_lateness=0), None)
    asyncio.run(processor.start(Host()))
    processor.profiles[("bench", "1")] = profile

    n_batches = args.records // BATCH
    batches_per_window = max(1, args.records_per_window // BATCH)
    start_ns = (time.time_ns() // NS - 3600) * NS  # event time one hour back, advancing 1 s per window
    decode_s = count_s = 0.0
    rss = [rss_bytes()]
    chunk_rates: list[float] = []  # count rate per 20 batches: the best is the least disturbed by load
    chunk_start, chunk_count_s = 0, 0.0
    for i in range(n_batches):
        t0 = time.thread_time()
        decoded = decode_batch(batches[i % len(batches)])
        t1 = time.thread_time()
        event_ns = start_ns + (i // batches_per_window) * NS + (i % batches_per_window)
        for rows in decoded.groups.values():
            rows.times = [event_ns] * len(rows)
        processor.ingest(decoded.groups, decoded.invalid)
        count_s += time.thread_time() - t1
        decode_s += t1 - t0
        if (i + 1) % 20 == 0:
            chunk_rates.append((i + 1 - chunk_start) * BATCH / (count_s - chunk_count_s))
            chunk_start, chunk_count_s = i + 1, count_s
        if (i + 1) % (n_batches // 10 or 1) == 0:
            rss.append(rss_bytes())
    records = n_batches * BATCH
    stream = processor.streams[("bench", "1")]
    print(
        f"records: {records:,} in batches of {BATCH}, {len(FEATURES)} features + 3 output columns,"
        " sample rate 0.5"
    )
    print(f"windows closed (each evaluated with its long view): {stream.windows_closed}")
    print(f"decode (protobuf + orjson):        {records / decode_s:>10,.0f} records/s")
    print(f"count  (columns + add + windows):  {records / count_s:>10,.0f} records/s   <- target >= 150,000")
    print(
        f"count rate per 10,240 records: best {max(chunk_rates):,.0f}, "
        f"median {sorted(chunk_rates)[len(chunk_rates) // 2]:,.0f} records/s"
    )
    print(f"pipeline (decode + count):         {records / (decode_s + count_s):>10,.0f} records/s")
    mib = [r / 2**20 for r in rss]
    print("RSS MiB every 10% of records: " + " ".join(f"{m:.0f}" for m in mib))
    print(f"RSS growth after the first 10%: {mib[-1] - mib[1]:+.1f} MiB")

    # Baseline in the same run: the per-record design (one WindowCounts.add per record).
    builder = ColumnBuilder(profile, "prediction", "proba_")
    decoded = decode_batch(batches[0])
    rows = next(iter(decoded.groups.values()))
    columns = builder.build(rows)
    weights = np.asarray(rows.weights)
    window = WindowCounts(profile)
    t0 = time.thread_time()
    for j in range(len(rows)):
        window.add({name: values[j : j + 1] for name, values in columns.items()}, weights=weights[j : j + 1])
    per_record = len(rows) / (time.thread_time() - t0)
    t0 = time.thread_time()
    for _ in range(20):
        WindowCounts(profile).add(builder.build(rows), weights=weights)
    per_batch = 20 * len(rows) / (time.thread_time() - t0)
    print(f"baseline, one add() per record:     {per_record:>10,.0f} records/s")
    print(
        f"same rows, one add() per batch:     {per_batch:>10,.0f} records/s  ({per_batch / per_record:.0f}x)"
    )


if __name__ == "__main__":
    main()
