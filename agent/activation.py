"""What ``MODELTEL_ENABLED=1`` does at interpreter start-up.

It only registers post-import hooks, so start-up stays cheap and nothing is configured in
processes that never import a supported framework or record a prediction. Keep this
module's imports to what ``site`` has already loaded (bench/startup.py measures it).
"""

from types import ModuleType

from modeltel.agent import runtime
from modeltel.agent.import_hooks import when_imported


def activate() -> None:
    """Idempotent: safe to call from the start-up hook and again by hand."""
    if runtime.is_activated():
        return
    runtime.mark_activated()
    when_imported("fastapi", _on_fastapi_import)


def _on_fastapi_import(module: ModuleType) -> None:
    try:
        from modeltel.agent.instrumentation.fastapi import install

        install(module)
    except Exception:
        import logging

        logging.getLogger("modeltel.agent").exception(
            "modeltel could not instrument FastAPI; it runs as it is"
        )
