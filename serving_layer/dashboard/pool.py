"""A small fixed pool of warehouse sessions for the dashboard's chart reads, with a bound
on the reads that wait for one.

A read borrows a session for its one statement. When all are lent it waits at most
``wait_s`` for one, and at most ``max_waiting`` reads wait at once: a read past either
bound fails at once with :class:`WarehouseBusy` (HTTP 503; the page says so and asks
again at its next refresh). So reads that the warehouse holds up (a lock the batch layer
takes, a cluster that queues) tie up at most ``size + max_waiting`` of the web server's
worker threads and never pile up behind one another.

psycopg2's own pools fail at once when they are empty and lend raw connections; waiting
with a bound, over the project's :class:`~lambda_common.warehouse.Warehouse` sessions
(lazy connection, one-line errors, reconnect after a drop), is what this adds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from lambda_common.errors import ServiceUnavailable


class WarehouseBusy(ServiceUnavailable):
    """The warehouse did not answer a read in time: no session was free within the wait
    bound, too many reads were waiting already, or the statement hit its timeout."""


class Session(Protocol):
    """What the pool lends: anything it can close when it shuts down."""

    def close(self) -> None:
        """Close the session's connection."""


S = TypeVar("S", bound=Session)


class SessionPool(Generic[S]):
    """``size`` sessions made by ``make``, lent one read at a time (thread-safe)."""

    def __init__(
        self, make: Callable[[], S], *, size: int, max_waiting: int, wait_s: float
    ) -> None:
        if size < 1 or max_waiting < 0 or wait_s < 0:
            raise ValueError("a pool needs size >= 1, max_waiting >= 0 and wait_s >= 0")
        self._wait_s = wait_s
        self._max_waiting = max_waiting
        # Last in, first out: the session used last is the one most likely still connected.
        self._idle: queue.LifoQueue[S] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(make())
        self._waiting = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def waiting(self) -> int:
        """How many reads wait for a session now."""
        return self._waiting

    @contextmanager
    def session(self) -> Iterator[S]:
        """A session for one read, given back afterwards whatever happened in it."""
        try:
            borrowed = self._idle.get_nowait()
        except queue.Empty:
            borrowed = self._wait()
        try:
            yield borrowed
        finally:
            self._idle.put(borrowed)
            if self._closed:
                self.close()

    def close(self) -> None:
        """Close every idle session; one still lent is closed when it comes back."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def _wait(self) -> S:
        with self._lock:
            if self._waiting >= self._max_waiting:
                raise WarehouseBusy(
                    f"the warehouse is busy: {self._waiting} reads are already waiting for "
                    "it; try again shortly"
                )
            self._waiting += 1
        try:
            return self._idle.get(timeout=self._wait_s)
        except queue.Empty:
            raise WarehouseBusy(
                f"the warehouse is busy: no connection to it came free within "
                f"{self._wait_s:g} s; try again shortly"
            ) from None
        finally:
            with self._lock:
                self._waiting -= 1
