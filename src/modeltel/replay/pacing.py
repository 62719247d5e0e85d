"""A token bucket holding replay to a rate in rows per second."""

import asyncio
import time


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``rate`` 0 means no limit."""

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._tokens = self._burst
        self._last = time.monotonic()

    async def take(self, tokens: int) -> None:
        """Wait until ``tokens`` are available and spend them; a request above ``burst`` waits
        for a full bucket and leaves a debt that later requests wait off."""
        if self._rate <= 0:
            return
        needed = min(float(tokens), self._burst)
        while True:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= needed:
                self._tokens -= tokens  # may go negative for oversized requests: later ones wait
                return
            await asyncio.sleep((needed - self._tokens) / self._rate)
