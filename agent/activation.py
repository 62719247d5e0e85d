"""What ``MODELTEL_ENABLED=1`` does at interpreter start-up.

It only registers post-import hooks, so start-up stays cheap and nothing is configured in
processes that never import a supported framework or record a prediction.
"""

import logging

import wrapt

from modeltel.agent import runtime

_log = logging.getLogger("modeltel.agent")


def activate() -> None:
    """Idempotent: safe to call from the start-up hook and again by hand."""
    if runtime.is_activated():
        return
    runtime.mark_activated()
    wrapt.register_post_import_hook(_on_fastapi_import, "fastapi")


def _on_fastapi_import(module: object) -> None:
    try:
        from modeltel.agent.instrumentation.fastapi import install

        install(module)
    except Exception:
        _log.exception("modeltel could not instrument FastAPI; the application runs uninstrumented")
