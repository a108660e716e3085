"""Progress of a long, object by object job (``make recompute``, ``make verify``): the
arithmetic and the lines an operator reads, kept apart from the I/O so it is tested with
a fake clock.

``Progress`` counts objects and events done against the objects to do; ``advance``
returns a line (objects done/total, events, rate, time left) when one is due, every
``every_s`` seconds of the given clock; ``summary`` is the closing line. The time left is
estimated from the share of objects done: the events an object holds are known only once
it is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lambda_common.durations import two_units


def rate(count: int, elapsed_s: float) -> float:
    """``count`` per second over ``elapsed_s`` (0 before any time has passed)."""
    return count / elapsed_s if elapsed_s > 0 else 0.0


def time_left(elapsed_s: float, done: int, total: int) -> float | None:
    """Seconds still to go if the rest goes at the pace of what is done (None while
    nothing is done to judge the pace by; 0 once everything is)."""
    if done >= total:
        return 0.0
    if done <= 0 or elapsed_s <= 0:
        return None
    return elapsed_s * (total - done) / done


def duration(seconds: float | None) -> str:
    """A duration for people: ``4.5s``, ``45s``, ``3m05s``, ``2h07m``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f}s"
    return two_units(round(seconds), days=False)


def summary(label: str, objects: int, events: int, rejects: int, elapsed_s: float) -> str:
    """The closing line: ``recompute: loaded 40 objects, 4,000,000 events and 12 rejects
    in 1m20s (50,000 events/s)``."""
    return (
        f"{label}: loaded {objects:,} objects, {events:,} events and {rejects:,} rejects "
        f"in {duration(elapsed_s)} ({rate(events, elapsed_s):,.0f} events/s)"
    )


@dataclass
class Progress:
    """Objects and events done of ``total`` objects, and the lines that report them.

    ``counts_events`` False: a phase that goes object by object without reading events
    (Redshift's checks before its single COPY); its lines leave events and rate out.
    """

    total: int
    label: str = "recompute"
    every_s: float = 5.0
    counts_events: bool = True
    clock: Callable[[], float] = time.monotonic
    objects: int = 0
    events: int = 0
    started: float = field(init=False)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self._last = self.clock()

    def advance(self, events: int = 0, objects: int = 1) -> str | None:
        """Count ``objects`` more objects holding ``events`` between them (one, unless a
        job reads several at once); the progress line if one is due (``every_s`` since
        the last, and objects still to do: the end has its summary)."""
        self.objects += objects
        self.events += events
        now = self.clock()
        if now - self._last < self.every_s or self.objects >= self.total:
            return None
        self._last = now
        return self.line(now)

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the start."""
        return (self.clock() if now is None else now) - self.started

    def line(self, now: float | None = None) -> str:
        """``recompute: 12/40 objects, 1,200,000 events, 50,000 events/s, about 1m30s
        left``."""
        elapsed = self.elapsed(now)
        parts = [f"{self.label}: {self.objects:,}/{self.total:,} objects"]
        if self.counts_events:
            parts.append(f"{self.events:,} events")
            parts.append(f"{rate(self.events, elapsed):,.0f} events/s")
        parts.append(f"about {duration(time_left(elapsed, self.objects, self.total))} left")
        return ", ".join(parts)
