"""Interpreter start-up hook.

``modeltel.pth`` (Python < 3.15) and ``modeltel.start`` (PEP 829, Python >= 3.15; its
presence disables the ``.pth`` import line there) call :func:`activate_from_environment`.
With ``MODELTEL_ENABLED`` unset the ``.pth`` line costs one ``os.environ`` lookup and
imports nothing of ours; PEP 829 entry points always import their module, so this one
imports nothing but ``os``.
"""

import os

ENABLE_VARIABLE = "MODELTEL_ENABLED"
_TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def is_enabled(value: str | None) -> bool:
    """True for ``1``/``true``/``yes``/``on`` (any case); ``0``, ``false`` or empty disable."""
    return value is not None and value.strip().lower() in _TRUE_VALUES


def activate_from_environment() -> None:
    if not is_enabled(os.environ.get(ENABLE_VARIABLE)):
        return
    try:
        from modeltel.agent.activation import activate

        activate()
    except Exception:  # a broken agent must never stop the host process from starting
        import logging

        logging.getLogger("modeltel.agent").exception(
            "modeltel agent failed to activate; continuing without it"
        )
