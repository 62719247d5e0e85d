"""Sending queues and the backoff policy, in process: bounds, order, durability across reopen."""

import asyncio
import random
from pathlib import Path

import pytest

from modeltel.collector.signals import Signal
from modeltel.exporters.queue import MemoryQueue, PersistentQueue, QueueFull
from modeltel.exporters.retry import Backoff, RetryConfig


def test_memory_queue_is_bounded_until_acknowledged() -> None:
    async def scenario() -> None:
        queue = MemoryQueue(capacity=10, sizer="items")
        await queue.put(Signal.LOGS, 6, b"a")
        await queue.put(Signal.LOGS, 4, b"b")
        with pytest.raises(QueueFull):
            await queue.put(Signal.LOGS, 1, b"c")
        taken = await queue.take(max_items=6, max_bytes=100)
        assert [entry.payload for entry in taken] == [b"a"]
        with pytest.raises(QueueFull):  # taken but not acknowledged still counts
            await queue.put(Signal.LOGS, 1, b"c")
        await queue.ack(taken)
        await queue.put(Signal.LOGS, 6, b"c")
        assert [entry.payload for entry in await queue.take(max_items=100, max_bytes=100)] == [b"b", b"c"]

    asyncio.run(scenario())


def test_persistent_queue_keeps_unacknowledged_entries_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "loki.sqlite"

    async def first() -> None:
        queue = PersistentQueue(path, capacity=3, sizer="requests", fsync=True)
        await queue.open()
        for payload in (b"one", b"two", b"three"):
            await queue.put(Signal.LOGS, 2, payload)
        with pytest.raises(QueueFull):
            await queue.put(Signal.LOGS, 2, b"four")
        taken = await queue.take(max_items=2, max_bytes=100)
        assert [entry.payload for entry in taken] == [b"one"]
        await queue.ack(taken)
        await queue.take(max_items=2, max_bytes=100)  # "two" in flight when the process goes away
        await queue.close()

    async def second() -> None:
        queue = PersistentQueue(path, capacity=3, sizer="requests", fsync=False)
        await queue.open()
        assert queue.size == 2
        taken = await queue.take(max_items=100, max_bytes=100)
        assert [(entry.signal, entry.items, entry.payload) for entry in taken] == [
            (Signal.LOGS, 2, b"two"),
            (Signal.LOGS, 2, b"three"),
        ]
        await queue.ack(taken)
        assert queue.size == 0
        await queue.close()

    asyncio.run(first())
    asyncio.run(second())


def test_backoff_grows_with_jitter_honours_retry_after_and_gives_up() -> None:
    config = RetryConfig(initial_interval=1, multiplier=2, max_interval=4, max_elapsed_time=20)
    backoff = Backoff(config, random.Random(1))
    delays = [backoff.next_delay(None) for _ in range(4)]
    assert 0.5 <= delays[0] <= 1.5 and 1 <= delays[1] <= 3 and 2 <= delays[2] <= 6 and 2 <= delays[3] <= 6
    assert backoff.next_delay(retry_after=7.0) >= 7.0
    while (delay := backoff.next_delay(None)) is not None:
        assert delay <= 6
    assert backoff.elapsed <= 20
    assert Backoff(RetryConfig(enabled=False), random.Random()).next_delay(None) is None
    forever = Backoff(RetryConfig(initial_interval=100, max_elapsed_time=0), random.Random())
    assert all(forever.next_delay(None) is not None for _ in range(100))


def test_batches_stay_under_the_byte_limit() -> None:
    async def scenario() -> None:
        queue = MemoryQueue(capacity=10, sizer="requests")
        for payload in (b"x" * 40, b"y" * 40, b"z" * 40, b"w" * 500):
            await queue.put(Signal.TRACES, 1, payload)
        assert [len(e.payload) for e in await queue.take(max_items=100, max_bytes=100)] == [40, 40]
        assert [len(e.payload) for e in await queue.take(max_items=100, max_bytes=100)] == [40]
        assert [len(e.payload) for e in await queue.take(max_items=100, max_bytes=100)] == [500]

    asyncio.run(scenario())
