"""The project's one back-off rule, and a call retried with it.

Every retry loop of the pipeline waits by :class:`Backoff`: ``first_s`` after the first
failure, doubling after each further one, never more than ``cap_s``; with ``jitter`` > 0
each wait is shortened by a random fraction of at most ``jitter``, so several processes
that failed together (batch processes of different partitions, after an outage) do not
all come back at the same instant. A success starts the count again.

Waits go through :func:`pause`: a ``stop`` event (SIGTERM, the job asked to end) cuts
them short, and tests inject ``sleep`` (and ``clock`` for deadlines) instead of waiting.

Written here rather than taken from ``tenacity``: the rule is a dozen lines, the
pipeline's loops each need a different end (a deadline for ``make init``, a stop event for
the long-running jobs, never for a micro-batch), and one more pinned dependency of the
speed layer's driver and executors would buy nothing these lines do not do.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

Sleep = Callable[[float], object]
"""Waits the given seconds (``time.sleep``, or a test's recorder)."""

# 2**64 times any first delay is past every cap: more doublings only risk a float overflow
# in a loop that retries for days (a micro-batch waiting out a long outage).
_MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class Backoff:
    """How long to wait after ``failures`` consecutive failures: ``first_s``, then doubling,
    capped at ``cap_s``; ``jitter`` (0 to 1) takes up to that fraction off at random."""

    first_s: float
    cap_s: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.cap_s:
            raise ValueError(f"back-off needs 0 < first_s <= cap_s, not {self}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"back-off jitter must be in [0, 1), not {self.jitter}")

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1 = the first)."""
        if failures < 1:
            raise ValueError(f"failures counts from 1, not {failures}")
        base = min(self.first_s * 2.0 ** min(failures - 1, _MAX_DOUBLINGS), self.cap_s)
        # Jitter only shortens: the cap stays the longest wait an operator ever sees.
        return base * (1.0 - self.jitter * rand()) if self.jitter else base


def pause(seconds: float, stop: threading.Event | None = None, sleep: Sleep | None = None) -> bool:
    """Wait ``seconds`` (``sleep`` if given, else on ``stop``, else ``time.sleep``); return
    whether ``stop`` is set, i.e. whether the caller should give up rather than retry."""
    if sleep is not None:
        sleep(seconds)
    elif stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)
    return stop is not None and stop.is_set()


def retry_call(
    action: Callable[[], T],
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    backoff: Backoff,
    what: str,
    stop: threading.Event | None = None,
    attempts: int | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep | None = None,
    rand: Callable[[], float] = random.random,
    log_level: int = logging.WARNING,
) -> T:
    """``action()``, run again after each ``retry_on`` error with ``backoff``'s waits.

    The error is raised as it is once ``attempts`` runs failed, once the next wait would
    end past ``deadline`` (on ``clock``), or once ``stop`` is set; with none of these given
    it retries until the action succeeds. Any other exception is raised at once. Each
    retry logs one line naming ``what`` and the error, at ``log_level`` (a warning unless
    the wait is an expected one).

    This is how a whole transaction is run again: ``action`` opens it, does its work and
    commits, and ``retry_on`` is the error that says nothing of it was kept
    (``TransientError``).
    """
    failures = 0
    while True:
        try:
            return action()
        except retry_on as e:
            failures += 1
            delay = backoff.delay(failures, rand)
            if (
                (attempts is not None and failures >= attempts)
                or (deadline is not None and clock() + delay > deadline)
                or (stop is not None and stop.is_set())
            ):
                raise
            logger.log(log_level, "%s: %s; retrying in %.1fs", what, e, delay)
            if pause(delay, stop, sleep):
                raise
