"""How hard to try when fetching an input: attempts, backoff, timeout and per-host limit."""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Requests at once to one host for a whole run, unless ``sources.max_concurrency`` says.
DEFAULT_MAX_CONCURRENCY = 8
#: The longest ``Retry-After`` honoured; a server asking for more fails the input.
MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: attempts, jittered exponential backoff, read timeout (seconds).

    ``per_host`` is this process's share of the run's per-host limit on requests at
    once (see :func:`share`).
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 60.0
    per_host: int = DEFAULT_MAX_CONCURRENCY

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (full jitter)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def share(limit: int, workers: int) -> int:
    """Each of ``workers`` processes' share of a per-host ``limit``: limit ÷ workers, at least 1.

    Worker processes do not coordinate, so each keeps to its share; the run as a whole
    then never sends more than ``limit`` requests at once to one host (or ``workers``,
    if the limit is smaller than that).
    """
    return max(1, limit // max(1, workers))
