"""The Spark Structured Streaming job behind the speed tables (``make speed``).

    Kafka --(Spark's Kafka source)--> parse (the contract, mapInArrow) --observe rejects-->
    valid events --append--> foreachBatch: the micro-batch's events collected to the
    driver (one Spark job, Arrow, no state), then, in one warehouse transaction, staged
    there, de-duplicated (late ones and copies of tweet ids seen within SPEED_RETENTION
    dropped: speed_seen), each view's own SELECT (lambda_common/views, the very text the
    warehouse runs for its batch table) over them added to its speed table, hours before
    the horizon dropped and the micro-batch recorded in speed_progress

Exactly once: Spark's checkpoint holds the Kafka offsets per micro-batch; the warehouse
records the last micro-batch it applied (and of which query) in the transaction that
applies it, with the tweet ids it counted, so a micro-batch Spark replays after a crash
is recognised and skipped. A fresh checkpoint (a new query id) reads the topic from its
start, and its first micro-batch empties the speed tables and forgets the ids seen in its
transaction.

Outages: a micro-batch whose write finds the warehouse down (or aborted by a concurrent
transaction) waits it out, retrying with the shared back-off until it succeeds or the
job is asked to stop. A query that fails (e.g. Kafka unreachable for long) is started
again from its checkpoint after a back-off; only errors a restart would meet again (a
checkpoint of another shape, lost Kafka offsets, a second job on the checkpoint) end
the job, with one line saying what to do.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lambda_common.kafka.broker import check_broker
from lambda_common.locks import exclusive_lock
from lambda_common.retry import Backoff, Sleep, pause
from lambda_common.settings import Settings
from lambda_common.signals import stop_on_signals
from lambda_common.warehouse import Warehouse
from speed_layer.session import build_session, one_machine
from speed_layer.sink import SpeedSink
from speed_layer.stream import OBSERVED, QUERY_NAME, SpeedError, build_stream
from speed_layer.view import FENCED, BatchStatus

logger = logging.getLogger(__name__)


# A failed query started again from its checkpoint: each start costs Spark seconds of
# planning and a Kafka metadata round, so less often; a query that then completes a
# micro-batch starts the count again.
QUERY_BACKOFF = Backoff(first_s=5.0, cap_s=60.0, jitter=0.2)


def _status_listener(sink: SpeedSink) -> Any:
    from pyspark.sql.streaming.listener import StreamingQueryListener

    class StatusListener(StreamingQueryListener):
        """Logs one line per micro-batch and hands it to the sink, whose next
        transaction keeps it in ``speed_batches`` (or, idle, a transaction of its own)."""

        def onQueryStarted(self, event: Any) -> None:
            logger.info("speed layer started (query id %s)", event.id)

        def onQueryProgress(self, event: Any) -> None:
            progress = event.progress
            metrics = progress.observedMetrics.get(OBSERVED)
            newest = metrics["max_created_at_us"] if metrics else None
            status = BatchStatus(
                batch_id=progress.batchId,
                input_rows=int(progress.numInputRows),
                rejects=int(metrics["rejects"]) if metrics else 0,
                rows_written=sink.written.pop(progress.batchId, 0),
                duration_ms=int(progress.durationMs.get("triggerExecution", 0)),
                max_event_time=(
                    datetime.fromtimestamp(newest / 1e6, UTC).replace(tzinfo=None)
                    if newest is not None
                    else None
                ),
                finished_at=datetime.now(UTC).replace(tzinfo=None),
            )
            logger.info("%s", status.line())
            logger.debug("speed batch %s phases (ms): %s", progress.batchId, progress.durationMs)
            sink.queue_status(status)

        def onQueryIdle(self, event: Any) -> None:
            # No micro-batch follows to carry the last statuses: write them now.
            sink.flush_statuses()

        def onQueryTerminated(self, event: Any) -> None:
            if event.exception:
                logger.error("speed layer stopped: %s", event.exception.splitlines()[0])
            sink.flush_statuses()

    return StatusListener()


def preflight(settings: Settings) -> None:
    """Fail fast, with one line, when the broker or the warehouse is unreachable."""
    check_broker(settings)
    with Warehouse(settings) as warehouse:
        warehouse.check()
        warehouse.ensure_schema()


def _local_path(location: str) -> bool:
    return "://" not in location or location.startswith("file:")


def checkpoint_lock(settings: Settings) -> AbstractContextManager[None]:
    """One job per local checkpoint: a second one fails at start with one line, rather
    than deep in Spark (CONCURRENT_STREAM_LOG_UPDATE). Remote checkpoints (s3a://, hdfs://)
    are the cluster's to guard."""
    checkpoint = settings.speed_checkpoint
    if not _local_path(checkpoint):
        return nullcontext()
    folder = Path(checkpoint.removeprefix("file://")).resolve()
    return exclusive_lock(folder.with_name(folder.name + ".lock"), "speed job on " + str(folder))


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run the streaming job until ``stop`` is set (or SIGINT/SIGTERM); raise on failure."""
    with checkpoint_lock(settings):
        _run(settings, stop)


def _run(settings: Settings, stop: threading.Event | None) -> None:
    preflight(settings)
    stop = stop or threading.Event()
    # Signals are a stop request from here on, Spark's start-up included (it takes a
    # while): a SIGTERM then lets the job end cleanly, exit 0, instead of killing it.
    with stop_on_signals(stop, "stopping the speed layer") if _main_thread() else _no_signals():
        _start_and_supervise(settings, stop)


def _start_and_supervise(settings: Settings, stop: threading.Event) -> None:
    # The zip of code shipped to a cluster's executors lives as long as the session.
    with tempfile.TemporaryDirectory(prefix="lambda-speed-") as scratch:
        spark = build_session(settings, Path(scratch))
        _reclaim_sigint()
        try:
            _supervise_session(spark, settings, stop)
        finally:
            _stop_spark(spark)
    logger.info("speed layer stopped")


def _reclaim_sigint() -> None:
    """Make SIGINT a stop request again. pyspark's SparkContext puts its own SIGINT handler
    in place of the job's (cancel every job, raise KeyboardInterrupt): Ctrl-C then failed
    the query, which the job started again instead of stopping."""
    if _main_thread():
        # SIGTERM's handler is stop_on_signals' (pyspark leaves SIGTERM alone).
        signal.signal(signal.SIGINT, signal.getsignal(signal.SIGTERM))


def _supervise_session(spark: Any, settings: Settings, stop: threading.Event) -> None:
    sink = SpeedSink(settings, stop=stop)
    sink.session = spark
    spark.streams.addListener(_status_listener(sink))
    # Spark reports an idle query (onQueryIdle) this long after its last micro-batch
    # (10 s by default): one trigger, so that the status of a burst's last micro-batch,
    # which no later one carries, is kept about a trigger after it.
    trigger_ms = round(settings.speed_trigger * 1000)  # SPEED_TRIGGER may be below a second
    spark.conf.set("spark.sql.streaming.noDataProgressEventInterval", f"{trigger_ms}ms")

    checkpoint = settings.speed_query_checkpoint

    def start_query() -> Any:
        return (
            build_stream(spark, settings)
            .writeStream.queryName(QUERY_NAME)
            .outputMode("append")
            .foreachBatch(sink)
            .option("checkpointLocation", checkpoint)
            .trigger(processingTime=f"{trigger_ms} milliseconds")
            .start()
        )

    logger.info(
        "speed layer: topic %s -> %s, trigger %gs, checkpoint %s, master %s, Spark %s",
        settings.kafka_topic,
        ", ".join(v.speed_table for v in settings.views),
        settings.speed_trigger,
        checkpoint,
        settings.spark_master,
        spark.version,
    )
    if not one_machine(settings.spark_master) and _local_path(checkpoint):
        logger.warning(
            "SPEED_CHECKPOINT %s is a local path: every node of the cluster writes state "
            "there, so it must be one they all see (a shared mount), or use s3a:// or hdfs://",
            checkpoint,
        )
    supervise(start_query, sink, stop, checkpoint)
    sink.flush_statuses()


def supervise(
    start_query: Callable[[], Any],
    sink: SpeedSink,
    stop: threading.Event,
    checkpoint: str,
    *,
    backoff: Backoff = QUERY_BACKOFF,
    sleep: Sleep | None = None,
) -> None:
    """Run the query until ``stop`` is set or it ends by itself; start it again from its
    checkpoint after each failure a restart can get past (``restart_delay``), waiting the
    back-off (cut short by ``stop``). Raise ``SpeedError`` with the one-line message
    (``failure_message``) for a failure that would only come back.

    Restarting is exactly-once safe: the checkpoint holds the offsets and state of the
    last committed micro-batch, and a replayed micro-batch rewrites the same rows.
    """
    restarts = 0
    while not stop.is_set():
        completed = sink.completed
        error: Any = None
        try:
            query = start_query()
        except Exception as e:  # e.g. the checkpoint unreadable for now, or the JVM gone
            error = e
        else:
            failure: BaseException | None = None
            try:
                failure = await_query(query, stop)
            finally:
                error = _stop_query(query)
            error = error if error is not None else failure
        if error is None or stop.is_set():
            return
        # A query that wrote micro-batches before failing met a new outage: start over.
        restarts = 1 if sink.completed > completed else restarts + 1
        message = failure_message(str(error), checkpoint)
        # With its type: pyspark's str() of an AnalysisException at start omits the name.
        delay = restart_delay(f"{type(error).__name__}: {error}", restarts, backoff)
        if delay is None:
            raise SpeedError(message)
        logger.error(
            "%s; restarting it from the checkpoint in %.0fs (restart %d)",
            message,
            delay,
            restarts,
        )
        if pause(delay, stop, sleep):
            return


def await_query(query: Any, stop: threading.Event) -> BaseException | None:
    """Wait until ``stop`` is set or the query ends; return what ended it, if it failed.

    ``awaitTermination`` raises the query's own error (StreamingQueryException) once the
    query has failed: caught here, so that the job ends with its one line, not a
    traceback (a checkpoint of an older aggregation fails this way at its first batch).
    """
    try:
        while not stop.is_set() and _active(query):
            query.awaitTermination(0.5)
    except Exception as e:  # the query's failure, or the JVM gone (then stop is set too)
        return e
    return None


# Spark's error classes for state a checkpoint holds in another shape than the query's.
_STATE_SCHEMA_CHANGED = (
    "STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE",
    "STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE",
)

# Failures a restart from the same checkpoint would only meet again: they need an
# operator, so they end the job (with failure_message's line) instead of looping.
_PERMANENT = (
    *_STATE_SCHEMA_CHANGED,
    # The checkpoint's operators or state are of another query than this one.
    "STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA",
    "STATE_STORE_INCORRECT_NUM_STATE_STORE_SCHEMAS",
    # Offsets the checkpoint points at are gone from Kafka (retention, topic recreated):
    # failOnDataLoss refuses them at every start.
    "KAFKA_DATA_LOSS",
    # Another query runs on this checkpoint.
    "CONCURRENT_QUERY",
    "CONCURRENT_STREAM_LOG_UPDATE",
    # The query's own plan or code is wrong: a bug, not an outage.
    "AnalysisException",
    "ParseException",
    "IllegalArgumentException",
    "UNRESOLVED_COLUMN",
    "TypeError:",
    "AttributeError:",
    "NameError:",
    "ImportError:",
    # Another job writes the speed tables, or the warehouse lost this one's progress.
    FENCED,
    # The JVM is gone: there is no Spark left to start a query in.
    "stopped SparkContext",
    "Py4JNetworkError",
    "Answer from Java side is empty",
)


def restart_delay(
    error: str,
    restarts: int,
    backoff: Backoff = QUERY_BACKOFF,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before starting the failed query again (its ``restarts``-th
    consecutive restart), or None when the error would only come back (``_PERMANENT``).
    ``error`` is the failure's text, best prefixed with its type's name.

    Everything else is taken for an outage: Kafka unreachable (the source's timeouts), the
    warehouse or the checkpoint's store failing a task. An unknown error that is in fact
    permanent costs one error line per back-off, never data: the checkpoint only moves
    when a micro-batch is written.
    """
    if any(marker in error for marker in _PERMANENT):
        return None
    return backoff.delay(restarts, rand)


def failure_message(error: str, checkpoint: str) -> str:
    """The one line a failed query ends the job with: the first line of Spark's error.

    A checkpoint written by an older aggregation (bigint sums, before they became
    DECIMAL(38,0)) cannot be resumed: Spark refuses its state at start, which says so,
    but not what to do about it. A fresh checkpoint is safe: the job then reads the topic
    from its earliest offsets and writes every group it holds with its full aggregate.
    """
    lines = error.strip().splitlines()
    message = f"speed layer query failed: {lines[0] if lines else 'no message'}"
    if any(name in error for name in _STATE_SCHEMA_CHANGED):
        message += (
            f"; SPEED_CHECKPOINT {checkpoint} holds the state of an older aggregation: move "
            "it aside and restart (the job re-reads the topic and rewrites speed_view)"
        )
    return message


def _active(query: Any) -> bool:
    try:
        return bool(query.isActive)
    except Exception:  # the JVM is gone (e.g. it got the terminal's signal too)
        return False


def _stop_query(query: Any) -> Any:
    """Stop the query; return its error, if it failed.

    A signal sent to the whole process group (Ctrl-C, ``timeout``) may have stopped the
    JVM already; its errors then only say it is gone, so they are logged, not raised.
    Stopping mid-batch is safe: the checkpoint replays that micro-batch.
    """
    error = None
    try:
        if query.isActive:
            query.stop()
        error = query.exception()
    except Exception as e:
        logger.debug("stopping the query: %s", e)
    return error


def _stop_spark(spark: Any) -> None:
    try:
        spark.stop()
    except Exception as e:  # the JVM may be gone already (see _stop_query)
        logger.debug("stopping Spark: %s", e)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and os.name == "posix"


@contextmanager
def _no_signals() -> Iterator[None]:
    yield
