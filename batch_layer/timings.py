"""Where a batch cycle's time goes: seconds per phase, summed over chunks and workers.

Each phase is timed around a chunk of work (a thousand messages, an object, a
statement), never around one event, so the clock costs nothing the cycle would notice.
The cycle logs one ``batch phases:`` line (``make bench`` reads it from the run it
times): the landing phases are summed over the landing workers, so with two workers they
may add up to more than the cycle's wall time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

# The phases in the order a cycle goes through them (others are listed after these).
ORDER = (
    "plan",
    "kafka read",
    "decode+normalise+encode",
    "gzip",
    "csv",
    "s3 upload",
    "copy",
    "de-dup insert",
    "hashtags",
    "views",
    "horizon+commit",
    "offsets commit",
)


class Phases:
    """Seconds per phase name (``time.perf_counter`` differences)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more to ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def merge(self, other: dict[str, float]) -> None:
        """Add another's seconds (a landing worker's, or the load's)."""
        for name, seconds in other.items():
            self.add(name, seconds)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the ``with`` block into ``name`` (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def line(self, events: int) -> str:
        """``batch phases: N events; plan 0.01s, kafka read 1.20s, ...`` in ``ORDER``."""
        names = [n for n in ORDER if n in self.seconds]
        names += sorted(n for n in self.seconds if n not in ORDER)
        parts = ", ".join(f"{n} {self.seconds[n]:.3f}s" for n in names)
        return f"batch phases: {events} events; {parts}"
