"""modeltel agent: prediction capture on top of the OpenTelemetry API.

The public functions here only use the OpenTelemetry API, so they are cheap no-ops in a
process with no SDK configured, and feed whatever SDK the host configured. Setting
``MODELTEL_ENABLED=1`` makes modeltel configure the SDK itself (see ``activation``).

Attributes load on first use (PEP 562): the start-up hook imports
``modeltel.agent.activation`` and must not pay for the OpenTelemetry API. Type checkers
see the names through ``predictions``.
"""

__all__ = ["PREDICTION_EVENT", "predictor", "record_label", "record_prediction", "register_model"]


def __getattr__(name: str) -> object:  # no typing import here: it costs ~15 ms at start-up
    if name == "register_model":
        from modeltel.agent import model_registry

        return model_registry.register_model
    if name in __all__:
        from modeltel.agent import predictions

        return getattr(predictions, name)
    raise AttributeError(f"module 'modeltel.agent' has no attribute {name!r}")
