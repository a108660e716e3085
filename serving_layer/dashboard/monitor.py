"""The pipeline's health for the dashboard and ``/metrics``, gathered in the background.

One thread runs ``make status``'s own gathering and judgement
(:func:`serving_layer.status_gather.gather`, :func:`serving_layer.status_checks.evaluate`)
every ``DASHBOARD_REFRESH``, and keeps the newest :class:`Snapshot`. Pages and scrapes
read the snapshot, so however many clients poll, Kafka, S3 and the warehouse are asked
once per refresh, and a scrape answers in microseconds even while a service is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from serving_layer.status_facts import Check, Facts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """The pipeline's health as ``make status`` sees it, gathered at one moment."""

    gathered_at: datetime  # naive UTC
    duration_s: float  # how long gathering took
    facts: Facts
    checks: tuple[Check, ...]


Gatherer = Callable[[datetime], tuple[Facts, list[Check]]]
"""Gathers the facts at a moment (naive UTC) and judges them."""


class HealthMonitor:
    """Gathers a :class:`Snapshot` every ``refresh_s`` seconds in a daemon thread."""

    def __init__(self, gatherer: Gatherer, refresh_s: float, clock: Callable[[], datetime]) -> None:
        self._gatherer = gatherer
        self._refresh_s = refresh_s
        self._clock = clock
        self._latest: Snapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def latest(self) -> Snapshot | None:
        """The newest snapshot; None until the first gathering has finished."""
        return self._latest

    def refresh(self) -> Snapshot:
        """Gather once now (the thread's step; tests call it directly)."""
        started = time.monotonic()
        now = self._clock()
        facts, checks = self._gatherer(now)
        snapshot = Snapshot(now, round(time.monotonic() - started, 3), facts, tuple(checks))
        self._latest = snapshot
        return snapshot

    def start(self) -> None:
        """Start gathering in the background (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="health", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current gathering."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # the monitor's boundary: log, keep the last snapshot, go on
                logger.exception("gathering the pipeline's health failed")
            self._stop.wait(self._refresh_s)
