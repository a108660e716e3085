"""SIGTERM/SIGINT as a request to stop, for the long-running commands (make batch, make speed)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

logger = logging.getLogger(__name__)


@contextmanager
def stop_on_signals(stop: threading.Event, what: str) -> Iterator[None]:
    """SIGTERM/SIGINT set ``stop`` for the block (logging ``what`` happens next); the
    previous handlers come back after. Call it from the main thread only."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: %s", signum, what)
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
