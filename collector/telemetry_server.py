"""The collector's own HTTP endpoint: /metrics (Prometheus or OpenMetrics), /healthz, /readyz,
and the GET and POST routes components register on the Host under /api/ (e.g. the drift status
API, the performance processor's label intake)."""

import logging

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from modeltel.collector.component import Host
from modeltel.collector.config import split_host_port

_log = logging.getLogger("modeltel.collector")


class TelemetryServer:
    def __init__(self, address: str, host: Host) -> None:
        self._address = address
        self._host = host
        self._runner: web.AppRunner | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self._host.registry), headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._host.ready:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "starting"}, status=503)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        """Components register routes after the server is up, so they are looked up per request."""
        routes = self._host.post_routes if request.method == "POST" else self._host.routes
        path = request.path
        for prefix in sorted(routes, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                request.match_info["tail"] = path[len(prefix) + 1 :]
                return await routes[prefix](request)
        raise web.HTTPNotFound(text=f"no component serves {request.method} {path}")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/{path:.*}", self._api)
        app.router.add_post("/api/{path:.*}", self._api)  # handlers read (and bound) their own bodies
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, port = split_host_port(self._address)
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as error:
            raise OSError(
                error.errno, f"telemetry endpoint could not listen on {self._address}: {error.strerror}"
            ) from None
        _log.info("metrics and health on http://%s/metrics", self._address)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
