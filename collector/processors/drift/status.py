"""JSON status API on the telemetry endpoint, for the CLI and tests.

``GET /api/v1/models`` lists every (model, version) stream; ``GET /api/v1/models/{model}``
(optionally ``?version=``) returns each matching stream's latest window and long-view reports.
With ``segment_by``, each stream also lists its segments' streams (``segments``): the same
figures per (segment attribute, value), in the summary and with their reports in the detail.
"""

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from modeltel.collector.processors.drift.references import Bootstrap
from modeltel.collector.processors.drift.segments import SegmentStreams
from modeltel.collector.processors.drift.windows import ModelStream

PREFIX = "/api/v1/models"


Segments = Callable[[tuple[str, str]], SegmentStreams | None]


def _segment_labels(stream: ModelStream) -> dict[str, str]:
    if stream.segment is None:
        return {}
    return {"segment": stream.segment[0], "segment_value": stream.segment[1]}


def summary(stream: ModelStream, dataset_share: float) -> dict[str, Any]:
    last = stream.last_window
    long = stream.last_long
    return {
        **_segment_labels(stream),
        "model": stream.model,
        "version": stream.version,
        "reference": stream.source,
        "windows": stream.windows_closed,
        "open_windows": len(stream.open),
        "last_evaluation": last.evaluated_at if last else None,
        "drift_share": last.drift_share if last else None,
        "dataset_drift": last.drift_share >= dataset_share if last else None,
        "long_view_drift_share": long.report.drift_share if long else None,
        "long_view_dataset_drift": long.report.dataset_drift if long else None,
    }


def bootstrap_summary(bootstrap: Bootstrap) -> dict[str, Any]:
    return {
        "model": bootstrap.model,
        "version": bootstrap.version,
        "reference": f"bootstrapping ({len(bootstrap)}/{bootstrap.size} records)",
        "windows": 0,
        "open_windows": 0,
        "last_evaluation": None,
        "drift_share": None,
        "dataset_drift": None,
        "long_view_drift_share": None,
        "long_view_dataset_drift": None,
    }


def detail(stream: ModelStream, dataset_share: float) -> dict[str, Any]:
    return {
        **summary(stream, dataset_share),
        "window": stream.last_window.to_dict() if stream.last_window else None,
        "long_view": stream.last_long.to_dict() if stream.last_long else None,
    }


def with_segments(
    stream: ModelStream, segments: Segments, describe: Callable[[ModelStream], dict[str, Any]]
) -> dict[str, Any]:
    """``describe(stream)``, plus ``segments`` (each described alike) when the model is segmented."""
    described = describe(stream)
    found = segments((stream.model, stream.version))
    if found is not None:
        described["segments"] = [describe(s) for s in sorted(found, key=lambda s: s.segment or ("", ""))]
    return described


def handler(
    streams: Callable[[], Iterable[ModelStream]],
    bootstraps: Callable[[], Iterable[Bootstrap]],
    dataset_share: float,
    segments: Segments = lambda key: None,
) -> Callable[[web.Request], Any]:
    def brief(stream: ModelStream) -> dict[str, Any]:
        return summary(stream, dataset_share)

    def full(stream: ModelStream) -> dict[str, Any]:
        return detail(stream, dataset_share)

    async def serve(request: web.Request) -> web.Response:
        model = request.match_info.get("tail", "")
        if not model:
            listed = [with_segments(s, segments, brief) for s in streams()] + [
                bootstrap_summary(b) for b in bootstraps()
            ]
            return web.json_response({"models": listed})
        version = request.query.get("version")
        found = [
            with_segments(s, segments, full)
            for s in streams()
            if s.model == model and (version is None or s.version == version)
        ]
        found += [
            bootstrap_summary(b)
            for b in bootstraps()
            if b.model == model and (version is None or b.version == version)
        ]
        if not found:
            raise web.HTTPNotFound(
                text=f"no stream for model {model!r}" + (f" version {version!r}" if version else "")
            )
        return web.json_response({"model": model, "versions": found})

    return serve
