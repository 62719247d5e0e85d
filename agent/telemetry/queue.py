"""A bounded, thread-safe queue that never blocks its producer and counts what it refuses."""

from collections import deque
from itertools import repeat, starmap
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    """``put`` is one length check and a deque append (both atomic under the GIL), so the
    request path never waits on a lock; when full the item is refused and counted."""

    __slots__ = ("_items", "dropped", "maxsize")
    width = 1  # items per record: what ``take`` returns is ``width`` times the records taken

    def __init__(self, maxsize: int) -> None:
        self._items: deque[T] = deque()
        self.maxsize = maxsize
        self.dropped = 0

    def put(self, item: T) -> int:
        """The queue's length with ``item`` in it, or 0 when it was refused (queue full)."""
        items = self._items
        size = len(items)
        if size >= self.maxsize:
            self.dropped += 1
            return 0
        items.append(item)
        return size + 1

    def put_many(self, items: list[T]) -> int:
        """As many of ``items`` as fit, in order; the rest are refused and counted. Returns
        the queue's length afterwards. One length check for a batch, not one per item."""
        queued = self._items
        room = self.maxsize - len(queued)
        if room >= len(items):
            queued.extend(items)
        else:
            room = max(room, 0)
            queued.extend(items[:room])
            self.dropped += len(items) - room
        return len(queued)

    def take(self, limit: int) -> list[T]:
        """Up to ``limit`` items, oldest first; only the export thread takes. The pops run in
        C (``starmap``): for a batch's 4,096 fields ~90 µs here, against ~230 µs in a loop."""
        items = self._items
        try:
            return list(starmap(items.popleft, repeat((), min(limit, len(items)))))
        except IndexError:  # cleared concurrently (fork reset): what it held is dropped anyway
            return []

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


class FieldQueue(BoundedQueue[Any]):
    """Records of ``width`` fields each, kept field by field in one deque, not as tuples.

    A tuple per waiting record is an object the garbage collector tracks from its allocation
    until the export thread takes it, up to a second later: each counts towards the young
    generation's threshold, which sets how often the host's collections (full ones: tens of
    milliseconds) run (bench/gc_pressure.py). ``deque.extend`` of a record is one C call,
    atomic under the GIL, so the fields of two records never interleave and the producer
    still takes no lock. ``maxsize`` and lengths count records."""

    __slots__ = ("width",)

    def __init__(self, maxsize: int, width: int) -> None:
        super().__init__(maxsize)
        self.width = width

    def put(self, item: tuple) -> int:
        """``item``: one record's fields. The queue's length with it, or 0 when refused."""
        items = self._items
        size = len(items) // self.width
        if size >= self.maxsize:
            self.dropped += 1
            return 0
        items.extend(item)
        return size + 1

    def put_many(self, items: list[Any]) -> int:
        """``items``: the fields of several records, one record after another."""
        queued, width = self._items, self.width
        count = len(items) // width
        room = self.maxsize - len(queued) // width
        if room >= count:
            queued.extend(items)
        else:
            room = max(room, 0)
            queued.extend(items[: room * width])
            self.dropped += count - room
        return len(queued) // width

    def take(self, limit: int) -> list[Any]:
        """The fields of up to ``limit`` records, oldest first; only the export thread takes."""
        return super().take(limit * self.width)

    def __len__(self) -> int:
        return len(self._items) // self.width
