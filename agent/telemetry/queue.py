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

    def put(self, item: T) -> bool:
        if len(self._items) >= self.maxsize:
            self.dropped += 1
            return False
        self._items.append(item)
        return True

    def put_many(self, items: list[T]) -> int:
        """As many of ``items`` as fit, in order; the rest are refused and counted. Returns
        how many were queued. One length check for a batch, not one per item."""
        room = self.maxsize - len(self._items)
        if room >= len(items):
            self._items.extend(items)
            return len(items)
        room = max(room, 0)
        self._items.extend(items[:room])
        self.dropped += len(items) - room
        return room

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
