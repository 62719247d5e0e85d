"""modeltel: OpenTelemetry-native monitoring for ML model servers.

This package root is imported at interpreter start-up whenever ``MODELTEL_ENABLED`` is
set, so it must stay free of imports; the components live in ``modeltel.agent``,
``modeltel.collector`` and ``modeltel.exporters``.
"""

__version__ = "0.1.0"
