"""CPU cost per record of the ``predictions`` processor, against its reference walk, in one process.

Both read the same real 512-record x 25-feature batches (bench/ingest.py's, as the agent sends
them), each freshly decoded from its bytes as the receiver does: the processor's path (a lean
second decode of the received bytes, msgspec shape checks) and the reference (walking the
decoded batch's wrappers, orjson for every body). CPU time (process_time), best and median of
``--rounds``: other work on a shared machine inflates wall time, not this.

    python bench/predictions.py [--batches 20] [--rounds 9] [--profile]
"""

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from collections import Counter as Tally
from collections.abc import Callable

from ingest import BATCH_ROWS, prediction_batches  # bench/ is sys.path[0] when run as a script
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from modeltel.collector import wire
from modeltel.collector.component import Host
from modeltel.collector.prediction_records import decode_payload
from modeltel.collector.processors.predictions import PredictionsConfig, PredictionsProcessor
from modeltel.collector.signals import Signal
from modeltel.semconv import ATTR_EVENT_NAME, ATTR_MODEL_NAME, ATTR_MODEL_VERSION, PREDICTION_EVENT


class _Discard:
    async def consume(self, signal: Signal, batch: object) -> None:
        return None


_WANTED = frozenset({ATTR_MODEL_NAME, ATTR_MODEL_VERSION, ATTR_EVENT_NAME})


def reference_walk(batch: ExportLogsServiceRequest) -> tuple[Tally, Tally]:
    """The reference: walk the decoded batch's wrappers, orjson for every body."""
    counts: Tally = Tally()
    problems: Tally = Tally()
    for resource_logs in batch.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes = {a.key: a.value.string_value for a in record.attributes if a.key in _WANTED}
                if (record.event_name or attributes.get(ATTR_EVENT_NAME, "")) != PREDICTION_EVENT:
                    continue
                model = attributes.get(ATTR_MODEL_NAME, "")
                if not model:
                    problems["model_name_missing"] += 1
                    continue
                if record.body.WhichOneof("value") != "string_value":
                    problem = "body_not_json_string"
                else:
                    problem = decode_payload(record.body.string_value)[1]
                if problem is not None:
                    problems[problem] += 1
                counts[(model, attributes.get(ATTR_MODEL_VERSION, ""))] += 1
    return counts, problems


def per_record_us(observe: Callable[[ExportLogsServiceRequest], None], payloads: list[bytes]) -> float:
    """CPU µs per record of decoding each payload (as the receiver does) and observing it."""
    started = time.process_time()
    for payload in payloads:
        batch = ExportLogsServiceRequest.FromString(payload)
        token = wire.set_received(batch, payload)
        try:
            observe(batch)
        finally:
            wire.clear(token)
    return (time.process_time() - started) / (len(payloads) * BATCH_ROWS) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--profile", action="store_true", help="cProfile the processor's path")
    args = parser.parse_args()
    payloads = prediction_batches(args.batches)
    host = Host()
    processor = PredictionsProcessor("predictions", PredictionsConfig(), _Discard())
    asyncio.run(processor.start(host))
    decode_only, fast, reference = [], [], []
    for _ in range(args.rounds):
        decode_only.append(per_record_us(lambda batch: None, payloads))
        fast.append(per_record_us(processor._observe, payloads))
        reference.append(per_record_us(reference_walk, payloads))
    base = min(decode_only)
    for name, times in (
        ("receiver decode only", decode_only),
        ("processor", fast),
        ("reference walk", reference),
    ):
        print(
            f"{name:<22} best {min(times):6.2f} µs/record (processor share {min(times) - base:5.2f}), "
            f"median {statistics.median(times):6.2f}"
        )
    print(
        f"reference / processor (processor share only): {(min(reference) - base) / (min(fast) - base):.1f}x"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(per_record_us, processor._observe, payloads)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
