"""The bytes a batch arrived as, so exporters can forward an unchanged batch without re-encoding.

A receiver that decoded a protobuf request and left it unchanged records ``(batch, bytes)``
for the duration of the pipeline call (a context variable: the pipeline runs in the
receiver's task). An exporter asks :func:`serialized` for a batch's bytes and gets the
received ones when the batch is that very object, which consumers may not modify
(docs: component.py); a batch a processor created is encoded afresh. Re-encoding a
512-record prediction batch costs more than decoding it, so this matters on the hot path.
"""

from contextvars import ContextVar

from google.protobuf.message import Message

_received: ContextVar[tuple[Message, bytes] | None] = ContextVar("modeltel_received_batch", default=None)


def set_received(batch: Message, payload: bytes) -> object:
    """Record ``payload`` as the encoding of ``batch``; returns a token for :func:`clear`."""
    return _received.set((batch, payload))


def clear(token: object) -> None:
    _received.reset(token)  # type: ignore[arg-type]


def serialized(batch: Message) -> bytes:
    received = _received.get()
    if received is not None and received[0] is batch:
        return received[1]
    return batch.SerializeToString()
