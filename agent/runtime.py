"""Per-process agent state: whether modeltel owns the SDK here, and whether it is built yet.

Providers are built lazily, on first use in the process that serves (first ASGI call or
first recorded prediction), never at import time: a uvicorn or gunicorn supervisor that
imports the app but never serves it therefore starts no exporter threads of ours.
"""

from _thread import allocate_lock  # threading would cost an import at interpreter start-up

_lock = allocate_lock()
_activated = False
_providers_started = False


def mark_activated() -> None:
    global _activated
    _activated = True


def is_activated() -> bool:
    return _activated


def ensure_providers() -> None:
    """Build and register the SDK providers once per process; a flag check afterwards."""
    global _providers_started
    if _providers_started or not _activated:
        return
    with _lock:
        if _providers_started:
            return
        _providers_started = True
        try:
            from modeltel.agent.providers import install_global_providers

            install_global_providers()
        except Exception:
            import logging

            logging.getLogger("modeltel.agent").exception(
                "modeltel could not configure OpenTelemetry; telemetry is off in this process"
            )
