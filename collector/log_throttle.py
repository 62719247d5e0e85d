"""At most one warning per reason per interval: a bad sender must not flood the collector's log."""

import logging
import time


class ThrottledWarnings:
    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._logger = logger
        self._interval = interval_s
        self._last: dict[str, float] = {}

    def warn(self, reason: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``reason`` was logged within the interval; True if logged."""
        now = time.monotonic()
        if now - self._last.get(reason, -self._interval) < self._interval:
            return False
        self._last[reason] = now
        self._logger.warning(message, *args)
        return True
