"""modeltel agent: prediction capture on top of the OpenTelemetry API.

The public functions here only use the OpenTelemetry API, so they are cheap no-ops in a
process with no SDK configured, and feed whatever SDK the host configured. Setting
``MODELTEL_ENABLED=1`` makes modeltel configure the SDK itself (see ``activation``).
"""

from modeltel.agent.predictions import PREDICTION_EVENT, predictor, record_prediction

__all__ = ["PREDICTION_EVENT", "predictor", "record_prediction"]
