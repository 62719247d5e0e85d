"""Retry policy for exporters: exponential backoff with jitter, honouring the backend's Retry-After.

The keys and defaults are the OpenTelemetry Collector's ``retry_on_failure``. A send either
succeeds, fails permanently (:class:`PermanentError`: the data is dropped and counted), or
fails retryably (:class:`RetryableError`, optionally with the delay the backend asked for).
"""

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from pydantic import Field

from modeltel.collector.component import ComponentConfig


class SendError(Exception):
    """A failed send; the message says what the backend or the network answered."""


class RetryableError(SendError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(SendError):
    """The backend refused the data for good (e.g. HTTP 400): retrying cannot help."""


class RetryConfig(ComponentConfig):
    enabled: bool = True
    initial_interval: float = Field(default=5.0, gt=0, description="Seconds before the first retry.")
    randomization_factor: float = Field(default=0.5, ge=0, le=1)
    multiplier: float = Field(default=1.5, ge=1)
    max_interval: float = Field(default=30.0, gt=0, description="Upper bound of one backoff, seconds.")
    max_elapsed_time: float = Field(
        default=300.0, ge=0, description="Seconds after which a batch is dropped; 0 retries forever."
    )


@dataclass
class Backoff:
    """The delays of one batch's retries."""

    config: RetryConfig
    rng: random.Random
    elapsed: float = 0.0
    _interval: float = 0.0

    def next_delay(self, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when the batch must be given up."""
        if not self.config.enabled:
            return None
        if self._interval == 0.0:
            self._interval = self.config.initial_interval
        spread = self.config.randomization_factor * self._interval
        delay = self.rng.uniform(self._interval - spread, self._interval + spread)
        self._interval = min(self._interval * self.config.multiplier, self.config.max_interval)
        if retry_after is not None:
            delay = max(delay, retry_after)  # the backend knows best when it can take more
        limit = self.config.max_elapsed_time
        if limit and self.elapsed + delay > limit:
            return None
        self.elapsed += delay
        return delay


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from either form HTTP allows (delta-seconds or an HTTP-date)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return seconds if seconds >= 0 else None
