"""``make batch``: cycles every BATCH_INTERVAL, never two at once, failures retried.

A failed cycle moves no offsets (see ``cycle``), so retrying it is always safe, whatever
failed: Kafka, S3 or the warehouse being down or restarting, a transaction the warehouse
aborted for a concurrent one, or an error nobody mapped. The process outlives all of
them; the back-off (``lambda_common.retry``) runs from 5 s, doubling, up to the interval,
and a successful cycle starts it again. Only SIGTERM/SIGINT end it (exit 0).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from batch_layer.cycle import run_cycle
from batch_layer.plan import PartitionSet
from lambda_common.errors import LambdaError
from lambda_common.locks import exclusive_lock, gate, private_lock_dir
from lambda_common.retry import Backoff
from lambda_common.settings import Settings
from lambda_common.signals import stop_on_signals

logger = logging.getLogger(__name__)

FIRST_BACKOFF_S = 5.0
# Batch processes of different partition sets fail together in an outage: up to a fifth
# off each wait keeps them from all hitting the recovering service at the same instant.
JITTER = 0.2


def cycle_backoff(settings: Settings) -> Backoff:
    """The waits between failed cycles: 5 s, doubling, capped at the interval (at least
    5 s), so a cycle is never tried less often than the schedule would have run it."""
    interval = float(settings.batch_interval)
    return Backoff(first_s=FIRST_BACKOFF_S, cap_s=max(interval, FIRST_BACKOFF_S), jitter=JITTER)


def lock_path(settings: Settings, partitions: PartitionSet | None = None) -> Path:
    """One lock per (brokers, topic, warehouse, partition set) on this machine."""
    chosen = partitions.label if partitions else "all"
    scope = (
        f"{settings.kafka_bootstrap_servers}|{settings.kafka_topic}|"
        f"{settings.warehouse.host}|{chosen}"
    )
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    return private_lock_dir() / f"batch-{digest}.lock"


def cycle_lock(
    settings: Settings, partitions: PartitionSet | None = None
) -> AbstractContextManager[None]:
    """Hold the batch lock, or fail at once if another batch process holds it."""
    return exclusive_lock(lock_path(settings, partitions), "batch process")


def _gate_path(settings: Settings) -> Path:
    """One gate per (brokers, topic, warehouse) on this machine, whatever the partitions."""
    scope = f"{settings.kafka_bootstrap_servers}|{settings.kafka_topic}|{settings.warehouse.host}"
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    return private_lock_dir() / f"batch-cycles-{digest}.lock"


def cycle_gate(settings: Settings) -> AbstractContextManager[None]:
    """Held (shared) by every cycle of every batch process of this machine, so a
    maintenance command waits for the cycles in progress and holds off new ones."""
    return gate(_gate_path(settings), exclusive=False, holder="maintenance command")


def maintenance_gate(settings: Settings) -> AbstractContextManager[None]:
    """Held alone by a maintenance command (recompute, rebuild-views, reset, ack-loss):
    it waits for this machine's cycles in progress, of every partition set, and the
    batch processes' next cycles wait for it; the processes themselves keep running (the
    warehouse's batch lock serialises writers on other machines)."""
    return gate(_gate_path(settings), exclusive=True, holder="batch cycle in progress")


def run_forever(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    only_partitions: PartitionSet | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Run cycles every ``BATCH_INTERVAL`` until SIGINT/SIGTERM or ``stop`` (the current
    cycle finishes; a wait is cut short). A failed cycle is retried after ``backoff``
    (default :func:`cycle_backoff`), whatever the error: it moved no offsets.

    An error that is not one of the project's (``LambdaError``) is a bug or a vendor error
    nobody mapped: logged with its traceback the first time (again only when a different
    one follows), then retried like any other. Ending the process instead would stop
    landing and loading for every partition until someone restarts it, while a cycle that
    keeps failing the same way costs one log line per retry and no data.
    """
    stop = stop or threading.Event()
    rule = backoff or cycle_backoff(settings)
    interval = float(settings.batch_interval)
    failures = 0
    previous: tuple[type[BaseException], str] | None = None
    with (
        stop_on_signals(stop, "stopping after the current cycle")
        if _main_thread()
        else nullcontext()
    ):
        while not stop.is_set():
            try:
                with cycle_gate(settings):
                    result = run_cycle(settings, only_partitions=only_partitions)
            except Exception as e:
                failures += 1
                delay = rule.delay(failures)
                same = previous == (type(e), str(e))
                previous = (type(e), str(e))
                _log_failure(e, delay, failures, traceback=not same)
                stop.wait(delay)
                continue
            if failures:
                logger.info("batch cycle succeeded after %d failed attempt(s)", failures)
            failures, previous = 0, None
            logger.info("%s", result.summary())
            stop.wait(max(interval - result.seconds, 0.0))
    logger.info("batch scheduler stopped")


def _log_failure(error: Exception, delay: float, failures: int, *, traceback: bool) -> None:
    if isinstance(error, LambdaError):
        logger.error(
            "batch cycle failed (offsets not moved), retrying in %.0fs (attempt %d): %s",
            delay,
            failures + 1,
            error,
        )
    else:
        logger.error(
            "batch cycle failed unexpectedly (offsets not moved), retrying in %.0fs "
            "(attempt %d): %s: %s",
            delay,
            failures + 1,
            type(error).__name__,
            error,
            exc_info=error if traceback else None,
        )


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
