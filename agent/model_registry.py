"""Placeholder until the framework work lands: identity by env var or class name."""

import os
from typing import Any

from modeltel.agent.model_call import ModelIdentity


def identity(model: Any) -> ModelIdentity:
    return ModelIdentity(
        os.environ.get("MODELTEL_MODEL_NAME") or type(model).__name__,
        os.environ.get("MODELTEL_MODEL_VERSION"),
    )
