"""The speed job's ``foreachBatch`` target: each micro-batch's new events collected to the
driver by one Spark job, then, in one warehouse transaction, staged and aggregated by
every view's own SELECT (the text the batch layer runs) into the speed tables; the
transaction records the micro-batch (so a replayed one is skipped) and carries the status
rows of the micro-batches before it.

A micro-batch's status (``make status``: input rows, rejects, duration) is only known once
Spark has finished it, after its transaction committed: the job hands it over
(``queue_status``) and the next micro-batch's transaction writes it, so that a running
stream commits once per micro-batch. A stream that goes idle, or stops, writes what is
left in a transaction of its own (``flush_statuses``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambda_common.errors import LambdaError, ServiceUnavailable
from lambda_common.faults import failpoint
from lambda_common.retry import Backoff, retry_call
from lambda_common.settings import Settings
from lambda_common.views import HOUR
from lambda_common.warehouse import Warehouse
from speed_layer.events import PLACE_COLUMNS, TWEET_COLUMNS, StagedEvents, from_arrow
from speed_layer.stream import QUERY_NAME, SpeedError
from speed_layer.view import BatchStatus, SpeedView

logger = logging.getLogger(__name__)

# A micro-batch's write retried while the warehouse is down: soon at first (a restart takes
# seconds), then every 30 s at most, so the view catches up within that of the recovery.
SINK_BACKOFF = Backoff(first_s=1.0, cap_s=30.0, jitter=0.2)


def collect_events(events: Any) -> StagedEvents:
    """A micro-batch's valid events on the driver, in Arrow: the relation ``tweets``'s
    columns (``event_hour`` as epoch seconds, so no time zone of the JVM or Python shifts
    it), each event's hashtag keys and its place in the topic. One Spark job (Kafka and
    parsing, no cache, no state); the warehouse de-duplicates the events and every view
    aggregates them (``SpeedView.apply``)."""
    from pyspark.sql import functions as F

    frame = events.select(
        *(F.unix_seconds(F.col(c)).alias(c) if c == HOUR else F.col(c) for c in TWEET_COLUMNS),
        F.col("hashtags"),
        *PLACE_COLUMNS,
    )
    return from_arrow(_to_arrow(frame))


def _to_arrow(frame: Any) -> Any:
    """``DataFrame.toArrow`` (Spark 4), or the same from the record batches Spark 3.5
    collects (its schema given, for a micro-batch of no events)."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    return pa.Table.from_batches(frame._collect_as_arrow(), schema=to_arrow_schema(frame.schema))


@dataclass
class Phases:
    """Where one micro-batch's time went in the sink, in seconds: the Spark job (Kafka
    read, parse, collect to the driver), and the warehouse transaction (staging the
    events, their de-duplication, every view's SELECT and MERGE, the commit)."""

    events: int = 0
    spark_s: float = 0.0
    warehouse_s: float = 0.0

    def line(self, batch_id: int) -> str:
        """The job's log line of them (``bench/speed.py`` reads it)."""
        return (
            f"speed batch {batch_id} phases: {self.events} events, "
            f"spark {self.spark_s:.3f} s, warehouse {self.warehouse_s:.3f} s"
        )


class SpeedSink:
    """``foreachBatch`` target: each micro-batch's changed groups into ``speed_view``.

    A write that fails with ``ServiceUnavailable`` (the warehouse down, or the transaction
    aborted for a concurrent one: ``TransientError``) is run again whole, with
    ``backoff``, until it succeeds or ``stop`` is set (then the error is raised and the
    query ends; Spark replays the micro-batch from the checkpoint at the next start).
    ``attempts`` bounds the tries instead, for tests. ``completed`` counts the micro-batches
    written, so the job can tell a query that made progress from one that did not.

    Called by Spark's micro-batch thread, and (``queue_status``, ``flush_statuses``) by
    its listener's: one warehouse connection, used by one of them at a time.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        stop: threading.Event | None = None,
        backoff: Backoff = SINK_BACKOFF,
        attempts: int | None = None,
    ) -> None:
        self.view = SpeedView(settings, Warehouse(settings))
        self.stop = stop or threading.Event()
        self.backoff = backoff
        self.attempts = attempts
        self.written: dict[int, int] = {}
        self.completed = 0
        # The driver's own session: the one its streaming query is registered with (the
        # session foreachBatch hands the micro-batch in is a clone that lists no query).
        self.session: Any = None
        # Status rows waiting for a transaction, by batch id (a replay's replaces).
        self._statuses: dict[int, BatchStatus] = {}
        self._statuses_lock = threading.Lock()
        self._writing = threading.Lock()

    def __call__(self, frame: Any, batch_id: int) -> None:
        query_id = _query_id(self.session)
        began = time.perf_counter()
        events = collect_events(frame)
        computed = time.perf_counter()

        def write() -> None:
            # One transaction for every view, recorded in speed_progress: all or nothing,
            # and a replayed micro-batch is skipped. It carries the statuses waiting now.
            statuses = self._waiting()
            applied = self.view.apply(query_id, batch_id, events, statuses)
            self.written[batch_id] = applied[0] if applied else 0
            self._written(statuses)

        with self._writing:
            retry_call(
                write,
                retry_on=ServiceUnavailable,
                backoff=self.backoff,
                what=f"speed batch {batch_id}",
                stop=self.stop,
                attempts=self.attempts,
            )
        self.completed += 1
        phases = Phases(len(events), computed - began, time.perf_counter() - computed)
        logger.info("%s", phases.line(batch_id))
        # Committed in the warehouse, not yet in Spark's checkpoint: a crash here replays
        # this micro-batch, which speed_progress recognises.
        failpoint("speed_after_write")

    def queue_status(self, status: BatchStatus) -> None:
        """Hand over a finished micro-batch's status: the next transaction writes it."""
        with self._statuses_lock:
            self._statuses[status.batch_id] = status

    def flush_statuses(self) -> None:
        """Write the statuses no micro-batch has carried, in a transaction of their own:
        for a stream gone idle, or stopping. Best effort, and never waits: a micro-batch
        being written carries them anyway."""
        if not self._writing.acquire(blocking=False):
            return
        try:
            statuses = self._waiting()
            if statuses:
                self.view.record(statuses)
                self._written(statuses)
        except LambdaError as e:  # status is best effort; the view itself is not
            logger.warning("could not record speed batch statuses: %s", e)
        finally:
            self._writing.release()

    def _waiting(self) -> list[BatchStatus]:
        with self._statuses_lock:
            return list(self._statuses.values())

    def _written(self, statuses: Sequence[BatchStatus]) -> None:
        """Forget the statuses a committed transaction wrote (not a newer one of an id)."""
        with self._statuses_lock:
            for status in statuses:
                if self._statuses.get(status.batch_id) is status:
                    del self._statuses[status.batch_id]


def _query_id(spark: Any) -> str:
    """The id of this job's streaming query: kept in its checkpoint, so the same across
    restarts from it, and new with a new checkpoint."""
    for query in spark.streams.active:
        if query.name == QUERY_NAME:
            return str(query.id)
    raise SpeedError(f"no active streaming query named {QUERY_NAME}")
