"""How hard to try when fetching an input: attempts, backoff and timeout."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: attempts, jittered exponential backoff, read timeout (seconds)."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (full jitter)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
