"""A bounded, thread-safe queue that never blocks its producer and counts what it refuses."""

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    """``put`` is one length check and a deque append (both atomic under the GIL), so the
    request path never waits on a lock; when full the item is refused and counted."""

    __slots__ = ("_items", "dropped", "maxsize")

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
        """Up to ``limit`` items, oldest first; only the export thread takes."""
        items, popleft = [], self._items.popleft
        try:
            for _ in range(min(limit, len(self._items))):
                items.append(popleft())
        except IndexError:  # cleared concurrently (fork reset)
            pass
        return items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
