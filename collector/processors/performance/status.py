"""JSON status of the performance processor on the telemetry endpoint, for the CLI and tests.

``GET /api/v1/performance`` returns the join store's counts and every stream's latest
evaluation; ``GET /api/v1/performance/{model}`` (optionally ``?version=``) that model's streams.
"""

from collections.abc import Callable
from typing import Any

from aiohttp import web

PREFIX = "/api/v1/performance"


def handler(status: Callable[[], dict[str, Any]]) -> Callable[[web.Request], Any]:
    async def serve(request: web.Request) -> web.Response:
        current = status()
        model = request.match_info.get("tail", "")
        if not model:
            return web.json_response(current)
        version = request.query.get("version")
        found = [
            stream
            for stream in current["models"]
            if stream["model"] == model and (version is None or stream["version"] == version)
        ]
        if not found:
            raise web.HTTPNotFound(
                text=f"no evaluated stream for model {model!r}" + (f" version {version!r}" if version else "")
            )
        return web.json_response({"model": model, "versions": found})

    return serve
