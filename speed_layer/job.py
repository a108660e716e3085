"""The Spark Structured Streaming job behind the speed tables (``make speed``).

    Kafka --(Spark's Kafka source)--> parse (the contract, mapInArrow) --observe rejects-->
    watermark on event_hour --> drop duplicate tweet_ids --append--> foreachBatch: each
    view's own SELECT (lambda_common/views, the very text the warehouse runs for its
    batch table) over the micro-batch's events, then, in one warehouse transaction, add
    every view's rows to its speed table, drop hours before the horizon and record the
    micro-batch in speed_progress

Exactly once: Spark's checkpoint holds the Kafka offsets and the de-duplication state per
micro-batch; the warehouse records the last micro-batch it applied (and of which query)
in the transaction that applies it, so a micro-batch Spark replays after a crash is
recognised and skipped. A fresh checkpoint (a new query id) reads the topic from its
start, and its first micro-batch empties the speed tables in its transaction.

Outages: a micro-batch whose write finds the warehouse down (or aborted by a concurrent
transaction) waits it out, retrying with the shared back-off until it succeeds or the
job is asked to stop. A query that fails (e.g. Kafka unreachable for long) is started
again from its checkpoint after a back-off; only errors a restart would meet again (a
checkpoint of another shape, lost Kafka offsets, a second job on the checkpoint) end
the job, with one line saying what to do.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambda_common.broker import check_broker
from lambda_common.errors import LambdaError, ServiceUnavailable
from lambda_common.faults import failpoint
from lambda_common.locks import exclusive_lock
from lambda_common.retry import Backoff, Sleep, pause, retry_call
from lambda_common.settings import Settings
from lambda_common.signals import stop_on_signals
from lambda_common.views import HOUR, MEASURES, RELATIONS, View
from lambda_common.warehouse import Warehouse
from speed_layer.parse import PARSED_BATCH_DDL, parse_batches
from speed_layer.view import FENCED, BatchStatus, SpeedView, ViewRow

logger = logging.getLogger(__name__)

QUERY_NAME = "speed_view"
OBSERVED = "speed_input"
CONNECTOR = "org.apache.spark:spark-sql-kafka-0-10_2.13"

# A micro-batch's write retried while the warehouse is down: soon at first (a restart takes
# seconds), then every 30 s at most, so the view catches up within that of the recovery.
SINK_BACKOFF = Backoff(first_s=1.0, cap_s=30.0, jitter=0.2)
# A failed query started again from its checkpoint: each start costs Spark seconds of
# planning and a Kafka metadata round, so less often; a query that then completes a
# micro-batch starts the count again.
QUERY_BACKOFF = Backoff(first_s=5.0, cap_s=60.0, jitter=0.2)


class SpeedError(LambdaError):
    """The streaming query stopped with an error."""


def connector_jars(settings: Settings) -> list[Path]:
    """The Kafka connector's jars to add to Spark, minus those pyspark already ships.

    Empty when no jar folder is configured or fetched: Spark then resolves the connector
    itself through ``spark.jars.packages`` (needs Maven Central at start).
    """
    folder = (
        Path(settings.spark_kafka_jars)
        if settings.spark_kafka_jars
        else settings.local_stack_dir / "jars" / "spark-kafka"
    )
    if not folder.is_dir():
        if settings.spark_kafka_jars:
            raise LambdaError(f"SPARK_KAFKA_JARS={folder} is not a folder")
        return []
    import pyspark

    shipped = {_artifact(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    # Two versions of one library on the classpath is worse than the one Spark tested.
    return sorted(p for p in folder.glob("*.jar") if _artifact(p.name) not in shipped)


_VERSION_SUFFIX = re.compile(r"-\d+(?:\.\d+)+(?:[-.][A-Za-z][A-Za-z0-9]*)?$")


def _artifact(jar_name: str) -> str:
    """``kafka-clients-3.9.0.jar`` -> ``kafka-clients`` (the trailing version dropped)."""
    return _VERSION_SUFFIX.sub("", jar_name.removesuffix(".jar"))


def _quiet(spark: Any, logger_name: str) -> None:
    """Only errors from one of Spark's loggers. The trigger executor warns "falling behind"
    at every micro-batch that takes longer than the trigger, which on a small machine is
    every one: the job's own line per micro-batch already reports its duration, and the
    warning buried it in the log."""
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        logger_name, jvm.org.apache.logging.log4j.Level.ERROR
    )


def one_machine(master: str) -> bool:
    """Whether ``master`` runs every executor on this machine: ``local[...]``, or a
    standalone master on loopback (``make spark-up``). Such a cluster shares this machine's
    files, its loopback address and this virtualenv's interpreter."""
    if master.startswith("local"):
        return True
    parts = urlsplit(master)
    # spark://h1:7077,h2:7077 names several masters (standby ones): all must be local.
    hosts = [h.rsplit(":", 1)[0] for h in parts.netloc.split(",")]
    return parts.scheme == "spark" and all(h == "localhost" or h.startswith("127.") for h in hosts)


def driver_environment(master: str, python: str) -> dict[str, str]:
    """Variables the driver sets, unless already set, before Spark starts.

    On one machine: stay on loopback rather than guess a public interface (executors of a
    local cluster reach the driver there), and run the parse step in ``python``, this very
    interpreter, whose virtualenv has pyspark and pyarrow, rather than whatever "python3"
    is first on PATH. pyspark sends the driver's PYSPARK_PYTHON to the executors with each
    Python step, so on a cluster of several machines it must name an interpreter every
    node has: set it there (nothing is assumed).
    """
    if not one_machine(master):
        return {}
    return {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": python}


def session_config(
    settings: Settings, jars: Sequence[Path], spark_version: str, cores: int
) -> dict[str, str]:
    """The Spark properties of the job's session: ``jars`` the connector's (empty: Spark
    resolves it as a package), ``cores`` this machine's."""
    master = settings.spark_master
    conf = {
        "spark.sql.session.timeZone": "UTC",
        # State for tweet_ids within the retention window can be large: RocksDB keeps it
        # off the JVM heap, and changelog checkpointing makes each commit small.
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # Source options whose name or value matches are shown as *** in plans, the UI and
        # logs: the Kafka source's JAAS option carries the SASL password.
        "spark.sql.redaction.options.regex": "(?i)url|jaas|password|secret",
    }
    if one_machine(master):
        # 200 shuffle partitions (Spark's default) means 200 state-store tasks per
        # stateful operator and micro-batch; one per core is what a machine can run at
        # once, however many workers share it. Fixed per checkpoint once started.
        conf["spark.sql.shuffle.partitions"] = str(cores)
    if master.startswith("local"):
        conf["spark.ui.enabled"] = "false"
    # On a cluster the driver serves these jars to the executors (they read Kafka).
    if jars:
        conf["spark.jars"] = ",".join(str(j) for j in jars)
    else:
        conf["spark.jars.packages"] = f"{CONNECTOR}:{spark_version}"
    return conf


def build_session(settings: Settings, scratch: Path | None = None) -> Any:
    """A SparkSession configured for the job (the master from ``SPARK_MASTER``). Not on
    ``local[...]``, the executors get the code the parse step imports as a zip written in
    ``scratch`` (a folder that must outlive the session; default: a new temporary one)."""
    import pyspark
    from pyspark.sql import SparkSession

    master = settings.spark_master
    for name, value in driver_environment(master, sys.executable).items():
        os.environ.setdefault(name, value)
    conf = session_config(
        settings, connector_jars(settings), pyspark.__version__, os.cpu_count() or 2
    )
    builder = SparkSession.builder.appName("lambda-speed-layer").master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _quiet(spark, "org.apache.spark.sql.execution.streaming.ProcessingTimeExecutor")
    if not master.startswith("local"):
        folder = scratch or Path(tempfile.mkdtemp(prefix="lambda-speed-"))
        # Executors import the parse step's modules from the zip, ahead of anything installed
        # where they run: they need pyspark there, not this checkout.
        spark.sparkContext.addPyFile(str(code_archive(folder)))
    return spark


CODE_PACKAGES = ("lambda_common", "speed_layer")
"""The packages the executors import: the parse step's module and what it imports."""


def code_archive(folder: Path) -> Path:
    """A zip of ``CODE_PACKAGES`` (their sources and data files, no bytecode) in
    ``folder``, importable from ``sys.path`` as it is (what ``addPyFile`` ships)."""
    archive = folder / "lambda_code.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in CODE_PACKAGES:
            root = Path(str(importlib.import_module(name).__file__)).parent
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    zf.write(path, path.relative_to(root.parent).as_posix())
    return archive


MSK_IAM_OPTIONS = {
    "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "kafka.sasl.client.callback.handler.class": (
        "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
    ),
}
"""Amazon's IAM login for MSK in the JVM (the ``aws-msk-iam-auth`` jar on the classpath)."""
_SASL_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def _jaas_quoted(value: str) -> str:
    # JAAS values are double-quoted; a backslash escapes within them.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kafka_source_options(settings: Settings) -> dict[str, str]:
    """The Kafka source's connection options: the brokers, and TLS and SASL as the
    settings say, in the Kafka Java client's terms (``kafka.``-prefixed). The CA file is
    read as a PEM trust store; SCRAM and PLAIN credentials travel in the JAAS option,
    which the session redacts from plans and logs (``build_session``). Holds the SASL
    password: do not log."""
    options = {"kafka.bootstrap.servers": settings.kafka_bootstrap_servers}
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return options
    options["kafka.security.protocol"] = protocol
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile is not None:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = str(settings.kafka_ssl_cafile)
    mechanism = settings.kafka_sasl_mechanism
    if mechanism is not None:
        options["kafka.sasl.mechanism"] = mechanism
    if mechanism == "AWS_MSK_IAM":
        options.update(MSK_IAM_OPTIONS)
    elif mechanism is not None:
        password = settings.kafka_sasl_password
        options["kafka.sasl.jaas.config"] = (
            f"{_SASL_MODULES[mechanism]} required "
            f"username={_jaas_quoted(settings.kafka_sasl_username or '')} "
            f"password={_jaas_quoted(password.get_secret_value() if password else '')};"
        )
    return options


def build_stream(spark: Any, settings: Settings) -> Any:
    """The streaming DataFrame of valid, de-duplicated events (the first copy of each
    tweet_id within ``SPEED_RETENTION``), with the views' relations' columns."""
    from pyspark.sql import functions as F

    raw = (
        spark.readStream.format("kafka")
        .options(**kafka_source_options(settings))
        .option("subscribe", settings.kafka_topic)
        # Only for the very first start: afterwards the checkpoint's offsets rule.
        .option("startingOffsets", "earliest")
        .load()
    )
    # current_timestamp() is the micro-batch's clock, fixed in the checkpoint: a replayed
    # micro-batch judges "too far in the future" as its first attempt did.
    parsed = raw.select(
        F.col("value"),
        F.unix_micros(F.current_timestamp()).alias("read_at_us"),
        F.col("partition"),
        F.col("offset"),
    ).mapInArrow(parse_batches, PARSED_BATCH_DDL)
    observed = parsed.observe(
        OBSERVED,
        F.count(F.lit(1)).alias("input_rows"),
        F.count(F.col("reject")).alias("rejects"),
        F.max(F.col("created_at_us")).alias("max_created_at_us"),
    )
    return (
        observed.where(F.col("reject").isNull())
        .select(
            *(
                F.timestamp_seconds(F.col("event_hour_s")).alias(HOUR) if c == HOUR else c
                for c in RELATIONS["tweets"]
            ),
            "hashtags",
        )
        # Event time is the hour itself: Spark drops a tweet_id's state once the
        # watermark has passed its hour by SPEED_RETENTION.
        .withWatermark(HOUR, f"{settings.speed_retention} seconds")
        # First copy wins: copies share a Kafka partition (producers key by tweet_id),
        # so they reach this operator in offset order, and later micro-batches only
        # bring higher offsets.
        .dropDuplicatesWithinWatermark(["tweet_id"])
    )


def view_rows(events: Any, views: Sequence[View]) -> dict[str, list[ViewRow]]:
    """Every view's aggregation of one micro-batch's events: the view's own SELECT (the
    text the warehouse runs for the batch table) in Spark SQL, over the relation it reads
    made from ``events``. Rows as ``SpeedView.apply`` takes them.

    Two Spark jobs, however many views there are: the first view's computes the
    micro-batch (``events``, persisted by the caller) and caches it; the other views'
    results, stacked (each view's keys in columns of their own, ``_<view's index>_<key>``),
    are collected in the second, from the cache. Not all in one job: its branches would
    each compute the micro-batch at once rather than read it once."""
    from functools import reduce

    from pyspark.sql import functions as F

    spark = events.sparkSession
    tweets = events.select(*RELATIONS["tweets"])
    relations = {
        "tweets": tweets,
        "tweet_hashtags": events.select(
            *RELATIONS["tweets"], F.explode("hashtags").alias("hashtag")
        ),
    }
    results = []
    for i, view in enumerate(views):
        relations[view.reads].createOrReplaceTempView(view.reads)
        results.append(
            spark.sql(view.select).select(
                F.lit(i).alias(_VIEW_COLUMN),
                # The hour as epoch seconds, so no time zone of the JVM or Python shifts it.
                F.unix_seconds(F.col(HOUR)).alias(HOUR),
                *(F.col(k.name).alias(f"_{i}_{k.name}") for k in view.keys),
                *(F.col(m) for m in MEASURES),
            )
        )
    collected = [
        r
        for group in (results[:1], results[1:])
        if group
        for r in reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), group).collect()
    ]
    out: dict[str, list[ViewRow]] = {view.name: [] for view in views}
    for r in collected:
        i = r[_VIEW_COLUMN]
        view = views[i]
        out[view.name].append(
            (
                datetime.fromtimestamp(r[HOUR], UTC).replace(tzinfo=None),
                *(r[f"_{i}_{k.name}"] for k in view.keys),
                # DECIMAL(38,0) comes back as decimal.Decimal: int() of it is exact.
                *(int(r[m]) for m in MEASURES),
            )
        )
    return out


_VIEW_COLUMN = "_view"
"""The column with the index of the view a stacked row belongs to (view columns start
with a letter, so no stacked name can clash with one of theirs)."""


class SpeedSink:
    """``foreachBatch`` target: each micro-batch's changed groups into ``speed_view``.

    A write that fails with ``ServiceUnavailable`` (the warehouse down, or the transaction
    aborted for a concurrent one: ``TransientError``) is run again whole, with
    ``backoff``, until it succeeds or ``stop`` is set (then the error is raised and the
    query ends; Spark replays the micro-batch from the checkpoint at the next start).
    ``attempts`` bounds the tries instead, for tests. ``completed`` counts the micro-batches
    written, so the job can tell a query that made progress from one that did not.
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

    def __call__(self, frame: Any, batch_id: int) -> None:
        query_id = _query_id(self.session)
        # The views read the micro-batch several times: computed once (its de-duplication
        # is a stateful operator), then read from memory.
        began = time.perf_counter()
        frame.persist()
        try:
            rows = view_rows(frame, self.view.views)
        finally:
            frame.unpersist()
        computed = time.perf_counter()
        logger.debug(
            "speed batch %s: %s rows computed in %.3f s",
            batch_id,
            {name: len(r) for name, r in rows.items()},
            computed - began,
        )

        def write() -> None:
            # One transaction for every view, recorded in speed_progress: all or nothing,
            # and a replayed micro-batch is skipped.
            applied = self.view.apply(query_id, batch_id, rows)
            self.written[batch_id] = applied[0] if applied else 0

        retry_call(
            write,
            retry_on=ServiceUnavailable,
            backoff=self.backoff,
            what=f"speed batch {batch_id}",
            stop=self.stop,
            attempts=self.attempts,
        )
        self.completed += 1
        logger.debug("speed batch %s: written in %.3f s", batch_id, time.perf_counter() - computed)
        # Committed in the warehouse, not yet in Spark's checkpoint: a crash here replays
        # this micro-batch, which speed_progress recognises.
        failpoint("speed_after_write")


def _query_id(spark: Any) -> str:
    """The id of this job's streaming query: kept in its checkpoint, so the same across
    restarts from it, and new with a new checkpoint."""
    for query in spark.streams.active:
        if query.name == QUERY_NAME:
            return str(query.id)
    raise SpeedError(f"no active streaming query named {QUERY_NAME}")


def _status_listener(settings: Settings, sink: SpeedSink) -> Any:
    from pyspark.sql.streaming.listener import StreamingQueryListener

    class StatusListener(StreamingQueryListener):
        """Logs one line per micro-batch and keeps it in ``speed_batches``."""

        def __init__(self) -> None:
            self.view = SpeedView(settings, Warehouse(settings))

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
            try:
                self.view.record(status)
            except LambdaError as e:  # status is best effort; the view itself is not
                logger.warning("could not record speed batch %s status: %s", status.batch_id, e)

        def onQueryIdle(self, event: Any) -> None:
            pass

        def onQueryTerminated(self, event: Any) -> None:
            if event.exception:
                logger.error("speed layer stopped: %s", event.exception.splitlines()[0])

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
    spark.streams.addListener(_status_listener(settings, sink))

    checkpoint = settings.speed_query_checkpoint

    def start_query() -> Any:
        return (
            build_stream(spark, settings)
            .writeStream.queryName(QUERY_NAME)
            .outputMode("append")
            .foreachBatch(sink)
            .option("checkpointLocation", checkpoint)
            .trigger(processingTime=f"{settings.speed_trigger} seconds")
            .start()
        )

    logger.info(
        "speed layer: topic %s -> %s, trigger %ss, checkpoint %s, master %s",
        settings.kafka_topic,
        ", ".join(v.speed_table for v in settings.views),
        settings.speed_trigger,
        checkpoint,
        settings.spark_master,
    )
    if not one_machine(settings.spark_master) and _local_path(checkpoint):
        logger.warning(
            "SPEED_CHECKPOINT %s is a local path: every node of the cluster writes state "
            "there, so it must be one they all see (a shared mount), or use s3a:// or hdfs://",
            checkpoint,
        )
    supervise(start_query, sink, stop, checkpoint)


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
