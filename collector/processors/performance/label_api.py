"""``POST /api/v1/labels``: ground truth from systems that are not the model server.

Request (``Content-Type: application/json``)::

    {"labels": [{"prediction_id": "<32 hex digits or a UUID>", "label": "malignant",
                 "timestamp": 1764576000.5}]}          # or a bare list of the same items

``timestamp`` (optional) is when the label became known: Unix seconds or ISO 8601 text (UTC
when no zone is given); absent means the time of receipt. Each item is checked on its own:
an invalid item is reported by its index with a reason and costs the others nothing. The
answer comes after the valid items are committed to the join store, so a 200 means they
survive a restart. Literal ``NaN`` / ``Infinity`` (which Python's json module writes) are
read, and refused per item like the strings ``"NaN"``, ``"Infinity"``.
"""

import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import web

from modeltel.collector.processors.performance.label_values import Scalar, prediction_id_bytes, scalar_value

PATH = "/api/v1/labels"
ITEM_KEYS = frozenset({"prediction_id", "label", "timestamp"})


@dataclass
class ItemError:
    index: int
    reason: str
    message: str
    prediction_id: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "prediction_id": self.prediction_id, "reason": self.reason,
                "message": self.message}  # fmt: skip


@dataclass
class ParsedLabels:
    items: list[tuple[bytes, Scalar, int]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # index in the request of each item
    errors: list[ItemError] = field(default_factory=list)


class RequestError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _timestamp_ms(value: Any, now: float, max_skew: float) -> tuple[int | None, str | None]:
    if value is None:
        return round(now * 1000), None
    if isinstance(value, bool):
        return None, "timestamp is a boolean; use Unix seconds or ISO 8601 text"
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None, f"timestamp {value!r} is not ISO 8601"
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        seconds = parsed.timestamp()
    else:
        return None, "timestamp must be Unix seconds or ISO 8601 text"
    if not math.isfinite(seconds) or seconds < 0:
        return None, f"timestamp {value!r} is not a finite time after 1970"
    if seconds > now + max_skew:
        return None, f"timestamp {value!r} is more than {max_skew:g} s in the future"
    return round(seconds * 1000), None


def parse_labels(body: bytes, max_items: int, max_skew: float, now: float | None = None) -> ParsedLabels:
    """The valid items of a request body and an error per invalid one; RequestError when the
    body as a whole is unusable (not JSON, not a batch, too many items)."""
    now = time.time() if now is None else now
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # NaN / Infinity literals: read them so that only their items are refused
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise RequestError(400, f"body is not JSON: {error}") from None
    if isinstance(document, dict) and set(document) == {"labels"}:
        document = document["labels"]
    if not isinstance(document, list):
        raise RequestError(
            400, 'body must be {"labels": [...]} or a list of {prediction_id, label, timestamp}'
        )
    if len(document) > max_items:
        raise RequestError(413, f"{len(document)} labels in one request; at most {max_items}")
    parsed = ParsedLabels()
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            parsed.errors.append(ItemError(index, "item_not_object", "each label is an object"))
            continue
        raw_id = item.get("prediction_id")
        unknown = set(item) - ITEM_KEYS
        if unknown:
            parsed.errors.append(ItemError(index, "unknown_key", f"unknown key(s) {sorted(unknown)}; "
                                           f"allowed: {sorted(ITEM_KEYS)}", raw_id))  # fmt: skip
            continue
        identifier = prediction_id_bytes(raw_id)
        if identifier is None:
            message = f"prediction_id {raw_id!r} is not 32 hex digits or a UUID"
            parsed.errors.append(ItemError(index, "prediction_id_invalid", message, raw_id))
            continue
        label, problem = scalar_value(item.get("label"))
        if label is None:
            parsed.errors.append(
                ItemError(
                    index, problem or "label_missing", _LABEL_MESSAGES[problem or "label_missing"], raw_id
                )
            )
            continue
        time_ms, time_problem = _timestamp_ms(item.get("timestamp"), now, max_skew)
        if time_ms is None:
            parsed.errors.append(ItemError(index, "timestamp_invalid", time_problem or "", raw_id))
            continue
        parsed.items.append((identifier, label, time_ms))
        parsed.positions.append(index)
    return parsed


_LABEL_MESSAGES = {
    "label_missing": "label is missing, null or empty",
    "label_not_finite": "label is NaN or infinite",
    "label_not_scalar": "label must be a string, number or boolean (not an array or object)",
}


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (checked while reading)."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestError(413, f"body of {request.content_length} bytes exceeds {limit}")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


Submit = Callable[[list[tuple[bytes, Scalar, int]]], Awaitable[list[str]]]


def handler(
    submit: Submit, max_bytes: int, max_items: int, max_skew: float, count_invalid: Callable[[str], None]
):
    """The route: parse, hand the valid items to ``submit`` (which commits them), answer per item."""

    async def serve(request: web.Request) -> web.Response:
        if request.match_info.get("tail"):
            raise web.HTTPNotFound(text=f"no component serves POST {request.path}")
        media = request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        if media not in ("application/json", ""):
            return web.json_response({"error": f"unsupported Content-Type {media!r}; use application/json"},
                                     status=415)  # fmt: skip
        try:
            parsed = parse_labels(await read_body(request, max_bytes), max_items, max_skew)
        except RequestError as error:
            count_invalid("request_" + {400: "malformed", 413: "too_large"}[error.status])
            return web.json_response({"error": str(error)}, status=error.status)
        for error in parsed.errors:
            count_invalid(error.reason)
        statuses = await submit(parsed.items) if parsed.items else []
        tally = {
            name: statuses.count(name) for name in ("joined", "pending", "duplicate", "conflicting_duplicate")
        }
        answer = {
            "received": len(parsed.items) + len(parsed.errors),
            "accepted": len(parsed.items),
            **tally,
            "rejected": len(parsed.errors),
            "errors": [error.to_dict() for error in sorted(parsed.errors, key=lambda e: e.index)],
        }
        status = 400 if parsed.errors and not parsed.items else 200
        return web.json_response(answer, status=status)

    return serve
