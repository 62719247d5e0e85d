"""Per-row capture cost of prediction records: request path plus export-side encoding.

Both halves run on the serving process's CPU (the export thread shares its GIL), so the
figure that matters is their sum. Measured for a 1-row call (the common online case,
through ``record_prediction``), for rows of a 1000-row batch (``emit_predictions``, as the
framework hooks use it), and for a 10%-sampled batch. The baseline in the same run is
encoding the same row's JSON body alone, the floor any JSON-body design pays. Times are the
thread's CPU time, so other load on the machine does not inflate them.

    python bench/capture.py [--features 25] [--repeat 5]
"""

import argparse
import os
import statistics
import time

import numpy as np


def per_row(function, rows: int, repeat: int) -> float:
    """CPU time of this thread per row: what the serving process pays, whatever else runs."""
    times = []
    for _ in range(repeat):
        started = time.thread_time()
        function()
        times.append((time.thread_time() - started) / rows * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--features", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_BLRP_MAX_QUEUE_SIZE": "10000000"}
    )

    from modeltel.agent import runtime, settings
    from modeltel.agent.model_call import ModelIdentity
    from modeltel.agent.prediction_log import emit_predictions
    from modeltel.agent.predictions import encode_body, record_prediction
    from modeltel.agent.telemetry.encoding import LOG_WIDTH, encode_log_fields
    from modeltel.agent.telemetry.pipeline import Pipeline

    runtime.mark_activated()
    pipeline = Pipeline({"service.name": "bench"}, 1.0)
    pipeline._ensure_thread = lambda: None  # measure the producer alone; encoding is timed below
    import modeltel.agent.telemetry.pipeline as pipelines

    pipelines._pipeline = pipeline

    rng = np.random.default_rng(0)
    names = [f"feature_{i}" for i in range(args.features)]
    batch = rng.normal(size=(1000, args.features)).round(6)
    rows = batch.tolist()
    predictions = rng.integers(0, 2, 1000).tolist()
    identity = ModelIdentity("bench-model", "1")

    def drain() -> list:
        """The queued records' fields, one record after another (see queue.FieldQueue)."""
        return pipeline.logs.take(len(pipeline.logs))

    def batch_rows() -> None:
        emit_predictions(
            pipeline, identity, names, batch.tolist(), predictions, None, None, None, time.time_ns()
        )

    def single_rows() -> None:
        for row in rows:
            record_prediction(dict(zip(names, row, strict=True)), 1, model="bench-model", version="1")

    def body_only() -> None:
        for row in rows:
            encode_body({"features": dict(zip(names, row, strict=True)), "prediction": 1})

    results = {}
    baseline = per_row(body_only, 1000, args.repeat)
    for label, function in (("1-row record_prediction", single_rows), ("1000-row batch", batch_rows)):
        produce = per_row(function, 1000, args.repeat)
        fields = drain()
        started = time.thread_time()
        for start in range(0, len(fields), 512 * LOG_WIDTH):
            encode_log_fields(fields[start : start + 512 * LOG_WIDTH], pipeline.origin)
        encode = (time.thread_time() - started) / (len(fields) // LOG_WIDTH) * 1e6
        results[label] = (produce, encode)

    settings._current = settings.AgentSettings(sample_rate=0.1, traces_sample_rate=0.1)
    sampled = per_row(batch_rows, 1000, args.repeat)
    kept = len(drain()) // LOG_WIDTH

    print(f"{args.features} features per row, medians of {args.repeat} runs; µs per row")
    print(f"{'case':>26} {'request path':>13} {'encode':>8} {'total':>8} {'x body-only':>12}")
    print(f"{'JSON body alone (floor)':>26} {baseline:13.2f} {'':>8} {baseline:8.2f} {1.0:12.2f}")
    for label, (produce, encode) in results.items():
        total = produce + encode
        print(f"{label:>26} {produce:13.2f} {encode:8.2f} {total:8.2f} {total / baseline:12.2f}")
    print(f"{'1000-row batch at 10%':>26} {sampled:13.2f}  ({kept} of {1000 * args.repeat} rows kept)")


if __name__ == "__main__":
    main()
