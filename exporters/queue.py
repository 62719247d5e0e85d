"""Sending queues for exporters: bounded in memory, or durable on disk (SQLite, WAL).

An entry is one serialized OTLP export request. ``put`` raises :class:`QueueFull` rather
than block or drop, so the receiver can push back on the sender. Consumers take entries
with ``take`` and remove them with ``ack`` only after the backend acknowledged them; on
the persistent queue an entry that was taken but not acknowledged before a crash or
restart is sent again (at-least-once delivery).
"""

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from modeltel.collector.signals import Signal

Sizer = Literal["requests", "items", "bytes"]


class QueueFull(Exception):
    pass


@dataclass(frozen=True)
class Entry:
    signal: Signal
    items: int
    payload: bytes
    key: int = 0  # position in the queue; the row id of the persistent queue
    size: int = 0  # bytes of the payload (the persistent queue reads payloads only on take)


def sizer_function(sizer: Sizer) -> Callable[[int, bytes], int]:
    if sizer == "items":
        return lambda items, payload: items
    if sizer == "bytes":
        return lambda items, payload: len(payload)
    return lambda items, payload: 1


class SendingQueue(Protocol):
    capacity: int

    @property
    def size(self) -> int: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, signal: Signal, items: int, payload: bytes) -> None: ...

    async def take(self, max_items: int, max_bytes: int) -> list[Entry]: ...

    async def ack(self, entries: list[Entry]) -> None: ...

    def pending(self) -> list[Entry]: ...


class _Waiters:
    """Wakes consumers blocked in ``take`` when entries arrive."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event.clear()


def _gather(ready: deque[Entry], max_items: int, max_bytes: int) -> list[Entry]:
    """Entries from the front of ``ready`` within both limits; at least one entry."""
    taken = [ready.popleft()]
    items, size = taken[0].items, taken[0].size
    while ready and items + ready[0].items <= max_items and size + ready[0].size <= max_bytes:
        entry = ready.popleft()
        taken.append(entry)
        items += entry.items
        size += entry.size
    return taken


class MemoryQueue:
    """Bounded FIFO in memory: lost if the process dies; counted as dropped on shutdown."""

    def __init__(self, capacity: int, sizer: Sizer) -> None:
        self.capacity = capacity
        self._measure = sizer_function(sizer)
        self._ready: deque[Entry] = deque()
        self._size = 0
        self._in_flight: dict[int, Entry] = {}
        self._next_key = 0
        self._waiters = _Waiters()

    @property
    def size(self) -> int:
        return self._size

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def put(self, signal: Signal, items: int, payload: bytes) -> None:
        cost = self._measure(items, payload)
        if self._size + cost > self.capacity and self._size > 0:
            raise QueueFull(f"sending queue is full ({self._size} of {self.capacity})")
        self._next_key += 1
        self._ready.append(Entry(signal, items, payload, self._next_key, len(payload)))
        self._size += cost
        self._waiters.notify()

    async def take(self, max_items: int, max_bytes: int) -> list[Entry]:
        while not self._ready:
            await self._waiters.wait()
        taken = _gather(self._ready, max_items, max_bytes)
        for entry in taken:
            self._in_flight[entry.key] = entry
        if self._ready:
            self._waiters.notify()  # another consumer can start on the rest
        return taken

    async def ack(self, entries: list[Entry]) -> None:
        for entry in entries:
            if self._in_flight.pop(entry.key, None) is not None:
                self._size -= self._measure(entry.items, entry.payload)

    def pending(self) -> list[Entry]:
        """Entries not yet acknowledged (in flight first): what a shutdown would lose."""
        return [*self._in_flight.values(), *self._ready]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    signal TEXT NOT NULL,
    items INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""


class PersistentQueue:
    """A durable FIFO in one SQLite database per exporter, in WAL mode.

    ``put`` returns once the row is committed: with ``fsync: false`` (synchronous=NORMAL)
    the commit is in the WAL file and survives a crash or kill -9 of the process; with
    ``fsync: true`` (synchronous=FULL) every commit is fsynced and survives power loss.
    SQLite calls run on one dedicated thread so the event loop never waits on the disk.
    """

    def __init__(self, path: Path, capacity: int, sizer: Sizer, fsync: bool) -> None:
        self.capacity = capacity
        self._path = path
        self._fsync = fsync
        self._measure = sizer_function(sizer)
        self._sizer = sizer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"queue-{path.stem}")
        self._db: sqlite3.Connection | None = None
        self._ready: deque[Entry] = deque()  # metadata only; payloads are read on take
        self._in_flight: dict[int, Entry] = {}
        self._size = 0
        self._waiters = _Waiters()

    @property
    def size(self) -> int:
        return self._size

    async def _run(self, function: Callable, *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _open(self) -> list[tuple[int, str, int, int]]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA page_size=65536")  # requests are 100s of KiB: fewer overflow pages
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self._fsync else 'NORMAL'}")
        db.execute(_SCHEMA)
        self._db = db
        return db.execute("SELECT id, signal, items, length(payload) FROM queue ORDER BY id").fetchall()

    async def open(self) -> None:
        rows = await self._run(self._open)
        for key, signal, items, length in rows:  # type: ignore[union-attr]
            # The payload stays on disk; only its length matters to the bytes sizer.
            entry = Entry(Signal(signal), items, b"", key, length)
            self._ready.append(entry)
            self._size += self._cost(items, length)
        if self._ready:
            self._waiters.notify()

    def _cost(self, items: int, length: int) -> int:
        if self._sizer == "bytes":
            return length
        return items if self._sizer == "items" else 1

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    def _insert(self, signal: str, items: int, payload: bytes) -> int:
        assert self._db is not None
        cursor = self._db.execute(
            "INSERT INTO queue (signal, items, payload) VALUES (?, ?, ?)", (signal, items, payload)
        )
        return int(cursor.lastrowid or 0)

    async def put(self, signal: Signal, items: int, payload: bytes) -> None:
        cost = self._measure(items, payload)
        if self._size + cost > self.capacity and self._size > 0:
            raise QueueFull(f"persistent sending queue is full ({self._size} of {self.capacity})")
        self._size += cost  # reserved before the await so concurrent puts respect the bound
        try:
            key = await self._run(self._insert, signal.value, items, payload)
        except BaseException:
            self._size -= cost
            raise
        self._ready.append(Entry(signal, items, b"", key, len(payload)))  # type: ignore[arg-type]
        self._waiters.notify()

    def _payloads(self, keys: list[int]) -> dict[int, bytes]:
        assert self._db is not None
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(f"SELECT id, payload FROM queue WHERE id IN ({marks})", keys).fetchall()
        return dict(rows)

    async def take(self, max_items: int, max_bytes: int) -> list[Entry]:
        while not self._ready:
            await self._waiters.wait()
        taken = _gather(self._ready, max_items, max_bytes)
        for entry in taken:
            self._in_flight[entry.key] = entry
        if self._ready:
            self._waiters.notify()
        payloads: dict[int, bytes] = await self._run(self._payloads, [e.key for e in taken])  # type: ignore[assignment]
        return [Entry(e.signal, e.items, payloads.get(e.key, b""), e.key, e.size) for e in taken]

    def _delete(self, keys: list[int]) -> None:
        assert self._db is not None
        marks = ",".join("?" * len(keys))
        self._db.execute(f"DELETE FROM queue WHERE id IN ({marks})", keys)  # one transaction

    async def ack(self, entries: list[Entry]) -> None:
        keys = [entry.key for entry in entries]
        await self._run(self._delete, keys)
        for entry in entries:
            known = self._in_flight.pop(entry.key, None)
            if known is not None:
                self._size -= self._cost(entry.items, len(entry.payload))

    def pending(self) -> list[Entry]:
        return [*self._in_flight.values(), *self._ready]
