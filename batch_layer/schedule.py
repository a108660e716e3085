"""``make batch``: cycles every BATCH_INTERVAL, never two at once, failures retried.

A failed cycle moves no offsets (see ``cycle``), so retrying it is always safe; the
back-off doubles from 5 s up to the interval.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType

from batch_layer.cycle import run_cycle
from lambda_common.errors import LambdaError
from lambda_common.locks import exclusive_lock, private_lock_dir
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

FIRST_BACKOFF_S = 5.0


def lock_path(settings: Settings, partitions: list[int] | None = None) -> Path:
    """One lock per (brokers, topic, warehouse, partition set) on this machine."""
    chosen = ",".join(map(str, sorted(partitions))) if partitions else "all"
    scope = (
        f"{settings.kafka_bootstrap_servers}|{settings.kafka_topic}|"
        f"{settings.warehouse.host}|{chosen}"
    )
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    return private_lock_dir() / f"batch-{digest}.lock"


def cycle_lock(
    settings: Settings, partitions: list[int] | None = None
) -> AbstractContextManager[None]:
    """Hold the batch lock, or fail at once if another batch process holds it."""
    return exclusive_lock(lock_path(settings, partitions), "batch process")


def run_forever(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    only_partitions: list[int] | None = None,
) -> None:
    """Run cycles every ``BATCH_INTERVAL`` until SIGINT/SIGTERM (the current cycle finishes)."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: stopping after the current cycle", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    backoff = FIRST_BACKOFF_S
    interval = float(settings.batch_interval)
    while not stop.is_set():
        try:
            result = run_cycle(settings, only_partitions=only_partitions)
        except LambdaError as e:
            logger.error(
                "batch cycle failed (offsets not moved), retrying in %.0fs: %s", backoff, e
            )
            stop.wait(backoff)
            backoff = min(backoff * 2, max(interval, FIRST_BACKOFF_S))
            continue
        backoff = FIRST_BACKOFF_S
        logger.info("%s", result.summary())
        stop.wait(max(interval - result.seconds, 0.0))
