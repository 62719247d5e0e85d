"""What ``MODELTEL_ENABLED=1`` does at interpreter start-up.

It only registers post-import hooks, so start-up stays cheap and nothing is configured in
processes that never import a supported framework or record a prediction. Keep this
module's imports to what ``site`` has already loaded (bench/startup.py measures it).
"""

import os
from types import ModuleType

from modeltel.agent import runtime
from modeltel.agent.import_hooks import when_imported

# Defaults modeltel sets when the variable is absent, as opentelemetry-distro does for its
# own. Stable HTTP conventions: ``http.server.request.duration`` in seconds by ``http.route``
# (the old ``http.target`` is the raw path, one series per URL). Any value set, even an
# empty one, wins.
DISTRO_DEFAULTS = {"OTEL_SEMCONV_STABILITY_OPT_IN": "http"}


# Module whose import triggers capture -> modeltel.agent.frameworks module that installs it.
# scikit-learn hooks ``sklearn.base`` (imported before any estimator module) so estimator
# classes are wrapped as they are created.
FRAMEWORK_INSTALLERS = {
    "sklearn.base": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnxruntime": "onnxruntime",
}


def activate() -> None:
    """Idempotent: safe to call from the start-up hook and again by hand."""
    if runtime.is_activated():
        return
    runtime.mark_activated()
    for name, value in DISTRO_DEFAULTS.items():
        os.environ.setdefault(name, value)
    when_imported("fastapi", _on_fastapi_import)
    for module_name, installer in FRAMEWORK_INSTALLERS.items():
        when_imported(module_name, _framework_hook(installer))


def _on_fastapi_import(module: ModuleType) -> None:
    try:
        from modeltel.agent.instrumentation.fastapi import install

        install(module)
    except Exception:
        import logging

        logging.getLogger("modeltel.agent").exception(
            "modeltel could not instrument FastAPI; it runs as it is"
        )


def _framework_hook(installer: str) -> object:
    def install_capture(module: ModuleType) -> None:
        try:
            from importlib import import_module

            from modeltel.agent import settings

            if not settings.current().capture_models:  # MODELTEL_CAPTURE_MODELS=0
                return
            import_module(f"modeltel.agent.frameworks.{installer}").install(module)
        except Exception:
            import logging

            logging.getLogger("modeltel.agent").exception(
                "modeltel could not instrument %s; it runs as it is", module.__name__
            )

    return install_capture
