"""One replay: validate the whole file first, then send predictions, then labels."""

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modeltel.agent.predictions import new_prediction_id
from modeltel.replay import records
from modeltel.replay.pacing import TokenBucket
from modeltel.replay.sender import OtlpLogSender, SendError
from modeltel.replay.table import Columns, choose_columns, normalised_ids, read_table
from modeltel.replay.timestamps import to_unix_nanos
from modeltel.semconv import LABEL_EVENT, PREDICTION_EVENT

REQUESTS_PER_SECOND_WHEN_PACED = 10
"""With ``--rate``, batches shrink so that about this many requests go out per second."""


@dataclass(frozen=True)
class ReplayOptions:
    path: Path
    model: str
    version: str | None = None
    endpoint: str = "http://127.0.0.1:4318"
    rate: float = 0.0
    batch_size: int = 512
    compression: str = "none"
    service_name: str = "modeltel-replay"
    timestamp_column: str | None = None
    id_column: str | None = None
    label_column: str | None = None
    prediction_column: str | None = None
    exclude: tuple[str, ...] = ()
    max_retry_seconds: float = 300.0
    concurrency: int = 1


@dataclass
class Summary:
    rows: int = 0
    predictions_sent: int = 0
    labels_sent: int = 0
    labels_missing: int = 0
    rejected: int = 0
    retries: int = 0
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.predictions_sent / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class PreparedRows:
    """The validated table and what each row becomes; nothing is sent before this succeeds."""

    table: pa.Table
    columns: Columns
    ids: list[str]
    times_ns: np.ndarray | None


def prepare(options: ReplayOptions) -> PreparedRows:
    """Read and check everything up front (raises :class:`InputError`/:class:`TimestampError`)."""
    table = read_table(options.path, options.id_column)
    columns = choose_columns(
        table.column_names,
        prediction=options.prediction_column,
        prediction_id=options.id_column,
        timestamp=options.timestamp_column,
        label=options.label_column,
        exclude=options.exclude,
    )
    ids = (
        normalised_ids(table.column(columns.prediction_id), columns.prediction_id)
        if columns.prediction_id
        else fresh_ids(table.num_rows)
    )
    times_ns = (
        to_unix_nanos(table.column(columns.timestamp), columns.timestamp) if columns.timestamp else None
    )
    return PreparedRows(table, columns, ids, times_ns)


def fresh_ids(count: int) -> list[str]:
    """``count`` random 128-bit ids as 32 hex digits, from one ``os.urandom`` call."""
    text = os.urandom(16 * count).hex()
    return [text[start : start + 32] for start in range(0, 32 * count, 32)]


def batch_size(options: ReplayOptions) -> int:
    if options.rate <= 0:
        return options.batch_size
    return max(1, min(options.batch_size, math.ceil(options.rate / REQUESTS_PER_SECOND_WHEN_PACED)))


def _slices(rows: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, rows, size):
        yield start, min(size, rows - start)


def _times(prepared: PreparedRows, start: int, length: int, now_ns: int) -> np.ndarray:
    if prepared.times_ns is None:
        return np.full(length, now_ns, dtype=np.int64)
    return prepared.times_ns[start : start + length]


def prediction_requests(
    options: ReplayOptions, prepared: PreparedRows, resource: Any, size: int
) -> Iterator[tuple[ExportLogsServiceRequest, int]]:
    """Requests of ``size`` prediction records, built lazily as the sender takes them."""
    columns, table = prepared.columns, prepared.table
    for start, length in _slices(table.num_rows, size):
        chunk = table.slice(start, length)
        features = chunk.select(list(columns.features)).to_pylist()
        predictions = chunk.column(columns.prediction).to_pylist() if columns.prediction else None
        now_ns = time.time_ns()
        request = records.event_request(
            resource,
            PREDICTION_EVENT,
            records.prediction_bodies(features, predictions),
            prepared.ids[start : start + length],
            _times(prepared, start, length, now_ns),
            now_ns,
            options.model,
            options.version,
        )
        yield request, length


def label_requests(
    options: ReplayOptions, prepared: PreparedRows, resource: Any, size: int, labelled: np.ndarray
) -> Iterator[tuple[ExportLogsServiceRequest, int]]:
    """Requests of label records for the ``labelled`` rows (those whose label cell is not empty)."""
    assert prepared.columns.label is not None
    labels = prepared.table.column(prepared.columns.label).take(pa.array(labelled)).to_pylist()
    ids = [prepared.ids[row] for row in labelled.tolist()]
    times = prepared.times_ns[labelled] if prepared.times_ns is not None else None
    for start, length in _slices(len(labelled), size):
        now_ns = time.time_ns()
        request = records.event_request(
            resource,
            LABEL_EVENT,
            records.label_bodies(labels[start : start + length]),
            ids[start : start + length],
            times[start : start + length] if times is not None else np.full(length, now_ns, dtype=np.int64),
            now_ns,
            options.model,
            options.version,
        )
        yield request, length


async def send_all(
    requests: Iterator[tuple[ExportLogsServiceRequest, int]],
    send: Callable[[ExportLogsServiceRequest, int], Awaitable[None]],
    concurrency: int,
) -> None:
    """At most ``concurrency`` requests in flight; the next is built while they wait.

    Stops taking new requests after the first :class:`SendError` and raises it once the
    requests in flight have finished.
    """
    slots = asyncio.Semaphore(concurrency)
    in_flight: set[asyncio.Task] = set()
    errors: list[SendError] = []

    async def one(request: ExportLogsServiceRequest, count: int) -> None:
        try:
            await send(request, count)
        except SendError as error:
            errors.append(error)
        finally:
            slots.release()

    for request, count in requests:
        await slots.acquire()
        if errors:
            slots.release()
            break
        task = asyncio.create_task(one(request, count))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    if errors:
        raise errors[0]


async def replay(options: ReplayOptions, prepared: PreparedRows, console: Console) -> Summary:
    """Send every row, then every label, pacing and retrying; returns the counts for the summary."""
    summary = Summary(rows=prepared.table.num_rows)
    resource = records.replay_resource(options.service_name, new_prediction_id())
    columns, table = prepared.columns, prepared.table
    size = batch_size(options)
    bucket = TokenBucket(options.rate, burst=size)
    began = time.monotonic()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "{task.fields[rate]:>9.0f} rows/s  rejected {task.fields[rejected]}"
            "  retries {task.fields[retries]}"
        ),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    async with OtlpLogSender(
        options.endpoint, compression=options.compression, max_retry_s=options.max_retry_seconds
    ) as sender:
        with progress:
            task = progress.add_task("predictions", total=table.num_rows, rate=0.0, rejected=0, retries=0)
            sending_labels = False

            async def send(request: ExportLogsServiceRequest, count: int) -> None:
                await bucket.take(count)
                outcome = await sender.send(request.SerializeToString(), count)
                if sending_labels:
                    summary.labels_sent += count
                else:
                    summary.predictions_sent += count
                summary.rejected += outcome.rejected
                summary.retries += outcome.retries
                if outcome.message and len(summary.messages) < 5:
                    summary.messages.append(outcome.message)
                elapsed = max(time.monotonic() - began, 1e-9)
                sent = summary.predictions_sent + summary.labels_sent
                progress.update(task, advance=count, rate=sent / elapsed, rejected=summary.rejected,
                                retries=summary.retries)  # fmt: skip

            await send_all(prediction_requests(options, prepared, resource, size), send, options.concurrency)
            if columns.label:
                # Labels only after every prediction has been accepted, as they would in production.
                labelled = np.flatnonzero(
                    table.column(columns.label).is_valid().to_numpy(zero_copy_only=False)
                )
                summary.labels_missing = table.num_rows - len(labelled)
                sending_labels = True
                progress.update(task, description="labels", total=len(labelled), completed=0)
                requests = label_requests(options, prepared, resource, size, labelled)
                await send_all(requests, send, options.concurrency)
    summary.seconds = time.monotonic() - began
    return summary
