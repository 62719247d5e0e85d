"""The agent's bounded queues: never blocking, counting what they refuse, records kept whole."""

import threading

import numpy as np

from modeltel.agent.telemetry.queue import BoundedQueue, FieldQueue


def test_a_full_queue_refuses_and_counts_instead_of_growing() -> None:
    queue: BoundedQueue[int] = BoundedQueue(3)
    assert [queue.put(item) for item in range(5)] == [1, 2, 3, 0, 0]
    assert queue.put_many([7, 8]) == 3
    assert (len(queue), queue.dropped) == (3, 4)
    assert queue.take(10) == [0, 1, 2]


def test_field_queue_bounds_and_takes_whole_records() -> None:
    queue = FieldQueue(4, width=3)
    assert queue.put((1, "a", None)) == 1
    assert queue.put_many([2, "b", None, 3, "c", None]) == 3
    assert queue.put_many([4, "d", None, 5, "e", None, 6, "f", None]) == 4  # room for one of three
    assert queue.put((7, "g", None)) == 0
    assert (len(queue), queue.dropped) == (4, 3)
    assert queue.take(3) == [1, "a", None, 2, "b", None, 3, "c", None]
    assert queue.take(3) == [4, "d", None]
    assert (len(queue), queue.take(1)) == (0, [])


def test_field_queue_records_from_many_threads_never_interleave() -> None:
    """Producers extend while the consumer takes: every record arrives whole, none twice."""
    queue = FieldQueue(1_000_000, width=4)
    per_thread = 20_000
    rng = np.random.default_rng(11)
    payloads = rng.normal(size=(4, per_thread)).tolist()

    def produce(thread: int) -> None:
        for index, value in enumerate(payloads[thread]):
            queue.put((thread, index, value, -thread))

    taken: list = []
    producers = [threading.Thread(target=produce, args=(thread,)) for thread in range(4)]
    for producer in producers:
        producer.start()
    while any(producer.is_alive() for producer in producers):
        taken += queue.take(97)
    for producer in producers:
        producer.join()
    taken += queue.take(len(queue))
    assert len(taken) == 4 * 4 * per_thread
    records = list(zip(*[iter(taken)] * 4, strict=True))
    for thread in range(4):
        mine = [record for record in records if record[0] == thread]
        assert mine == [(thread, index, value, -thread) for index, value in enumerate(payloads[thread])]


def test_field_queue_cleared_while_taking_returns_no_partial_record() -> None:
    """A fork reset clears the queue under a consumer: what it held is dropped, and a partial
    record is never returned."""
    queue = FieldQueue(100, width=3)
    queue.put_many(list(range(30)))
    items = queue._items
    popleft = items.popleft
    calls = 0

    class ClearingDeque:
        def __len__(self) -> int:
            return len(items)

        def popleft(self):
            nonlocal calls
            calls += 1
            if calls == 5:
                items.clear()  # after four fields: one whole record and a third of the next
            return popleft()

    queue._items = ClearingDeque()  # type: ignore[assignment]
    assert queue.take(10) == []
    assert calls == 5
