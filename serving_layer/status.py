"""``make status``: is the pipeline healthy? One line per check, OK, WARN or FAIL.

Reports, per Kafka partition, the end offset, the batch layer's committed offset and the
lag; the batch horizon and its age; the speed layer's last micro-batch and newest event
time; row counts of the raw table and the views; rejects. Exits 1 when any check FAILs
(0 otherwise), so it serves as a health check; ``--format json`` is for monitoring.

Facts are gathered first (Kafka, S3 and the warehouse in parallel, each bounded by short
timeouts; one unreachable service becomes one FAIL line and the others still run), then
judged by :func:`evaluate`, a pure function of the facts, the settings and the clock.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError, NoError, UnknownTopicOrPartitionError, for_code
from psycopg2 import sql

from lambda_common.broker import BATCH_GROUP_ID, admin_client
from lambda_common.errors import LambdaError
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.sql import load_sql
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

# Every service gets at most this long to connect or answer one request, so a status run
# with a service down still ends within seconds (the three are asked in parallel).
TIMEOUT_S = 5
# A warehouse query that takes longer than this is cancelled (a health check must end).
QUERY_TIMEOUT_MS = 15_000

# Above this share of rejected messages (of all messages read) the rejects check WARNs:
# a few malformed messages are normal, this many suggest a broken producer.
REJECT_WARN_RATIO = 0.05

# The batch horizon is hour-aligned and set to floor_hour(cycle_start - ALLOWED_LATENESS),
# so right after a cycle it is up to 1 h + ALLOWED_LATENESS old, and it ages by
# BATCH_INTERVAL (plus the cycle's own duration) until the next cycle. It is OK while
# its age is within ALLOWED_LATENESS + 1 h + 2 * BATCH_INTERVAL (one interval of slack
# for a slow or failed cycle), WARN beyond (the batch layer is not running on schedule),
# and FAIL when a further day has passed without any cycle.
HORIZON_SLACK = timedelta(hours=1)
HORIZON_FAIL_AFTER = timedelta(days=1)

# The speed layer records one row in speed_batches per micro-batch, but Spark runs a
# micro-batch only when new messages arrived: a healthy job on an idle topic writes
# nothing. So its last micro-batch is OK when newer than max(2 min, 10 * SPEED_TRIGGER);
# older is OK too when Kafka holds no message newer than that micro-batch (idle), and
# WARN when it does (the job is stopped or stuck while events wait). After a message
# arrives on an idle topic the check may WARN for one trigger, until the job picks it up.
# It FAILs when events have been waiting and the last micro-batch is over a day old: the
# serving view then lacks everything after the batch horizon, and nobody noticed.
SPEED_FRESH_MIN = timedelta(minutes=2)
SPEED_FRESH_TRIGGERS = 10
SPEED_FAIL_AFTER = timedelta(days=1)

# The tables and views the pipeline creates (ensure_schema); status reads them all.
RELATIONS = (
    "raw_tweets",
    "load_ledger",
    "batch_view",
    "batch_daily",
    "batch_horizon",
    "batch_watermarks",
    "speed_view",
    "speed_batches",
    "serving_view",
)
COUNTED = ("raw_tweets", "batch_view", "speed_view")
NOT_SET_UP = "pipeline not set up yet (run make batch-once or make demo)"


class Level(StrEnum):
    """How a check came out; ordered from good to bad."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


_RANK = {Level.OK: 0, Level.WARN: 1, Level.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    level: Level
    name: str
    detail: str


# Facts: plain data gathered from the services, judged by evaluate(). -------------------


@dataclass(frozen=True)
class PartitionFacts:
    """One partition of the topic."""

    partition: int
    beginning: int  # earliest offset still retained
    end: int  # offset the next message will get
    committed: int | None  # the batch group's committed offset; None: never committed
    newest_at: datetime | None = None  # producer timestamp of the newest message (naive UTC)


@dataclass
class KafkaFacts:
    """What the broker says about the topic and the batch layer's consumer group."""

    servers: str
    topic: str
    error: str | None = None  # unreachable: nothing below is known
    brokers: int = 0
    topic_exists: bool = False
    partitions: list[PartitionFacts] = field(default_factory=list)
    offsets_error: str | None = None  # the topic exists but its offsets could not be read


@dataclass
class S3Facts:
    """Whether the master dataset's bucket answers."""

    bucket: str
    endpoint: str
    error: str | None = None


@dataclass(frozen=True)
class SpeedBatchFacts:
    """The newest row of ``speed_batches``."""

    batch_id: int
    finished_at: datetime
    input_rows: int


@dataclass
class WarehouseFacts:
    """What the warehouse's tables and views hold."""

    where: str  # the DSN, password masked
    dialect: str
    error: str | None = None  # unreachable or failing: nothing below is known
    missing: tuple[str, ...] = ()  # relations not created yet: nothing below is known
    horizon: datetime | None = None
    ledger_events: int = 0
    ledger_rejects: int = 0
    last_speed_batch: SpeedBatchFacts | None = None
    max_event_time: datetime | None = None
    speed_input_day: int = 0
    speed_rejects_day: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    serving_rows: int = 0
    serving_tweets: int = 0
    duplicates: int = 0


@dataclass
class Facts:
    """Everything :func:`evaluate` needs, from all three services."""

    kafka: KafkaFacts
    s3: S3Facts
    warehouse: WarehouseFacts


# Pure judgement. -------------------------------------------------------------------------


def evaluate(facts: Facts, settings: Settings, now: datetime) -> list[Check]:
    """Judge the facts: one :class:`Check` per line of the report, in report order.

    ``now`` is the wall clock (naive UTC, like every warehouse timestamp, or aware).
    Pure: no I/O, so every threshold is unit-tested with crafted facts.
    """
    now = _naive_utc(now)
    checks = _kafka_checks(facts.kafka)
    s3 = facts.s3
    if s3.error is not None:
        checks.append(Check(Level.FAIL, "s3", s3.error))
    else:
        checks.append(Check(Level.OK, "s3", f"s3://{s3.bucket} reachable at {s3.endpoint}"))
    checks += _warehouse_checks(facts, settings, now)
    return checks


def _kafka_checks(k: KafkaFacts) -> list[Check]:
    if k.error is not None:
        return [Check(Level.FAIL, "kafka", k.error)]
    checks = [Check(Level.OK, "kafka", f"{k.brokers} broker(s) at {k.servers}")]
    if not k.topic_exists:
        checks.append(
            Check(
                Level.FAIL,
                "kafka.topic",
                f"topic {k.topic!r} does not exist (start a producer: make run-producer)",
            )
        )
        return checks
    if k.offsets_error is not None:
        checks.append(Check(Level.FAIL, "kafka.topic", f"{k.topic}: {k.offsets_error}"))
        return checks
    messages = sum(p.end - p.beginning for p in k.partitions)
    stamps = [p.newest_at for p in k.partitions if p.newest_at is not None]
    newest = f", newest produced {max(stamps):%Y-%m-%d %H:%M:%S}" if stamps else ""
    checks.append(
        Check(
            Level.OK,
            "kafka.topic",
            f"{k.topic}: {len(k.partitions)} partitions, {messages:,} messages{newest}",
        )
    )
    checks += [_partition_check(p) for p in k.partitions]
    return checks


def _partition_check(p: PartitionFacts) -> Check:
    name = f"kafka.partition.{p.partition}"
    if p.committed is None:
        # The batch layer commits a partition's offsets once it has landed something
        # from it; an empty partition has nothing to land, so no commit is fine there.
        lag = p.end - p.beginning
        detail = f"end {p.end:,} committed - lag {lag:,}"
        if lag == 0:
            return Check(Level.OK, name, detail)
        return Check(Level.WARN, name, f"{detail}: no batch cycle yet")
    detail = f"end {p.end:,} committed {p.committed:,} lag {p.end - p.committed:,}"
    if p.committed < p.beginning:
        # Kafka's retention deleted messages the batch layer had not landed: lost.
        return Check(
            Level.FAIL,
            name,
            f"{detail}: messages from {p.committed:,} to {p.beginning - 1:,} expired "
            "before the batch layer landed them",
        )
    if p.committed > p.end:
        # The batch layer would wait for offsets that never come (topic re-created?).
        return Check(Level.FAIL, name, f"{detail}: committed offset is past the end")
    return Check(Level.OK, name, detail)


def _warehouse_checks(facts: Facts, settings: Settings, now: datetime) -> list[Check]:
    w = facts.warehouse
    if w.error is not None:
        return [Check(Level.FAIL, "warehouse", w.error)]
    checks = [Check(Level.OK, "warehouse", f"{w.dialect} at {w.where}")]
    if w.missing:
        # Only a partial schema is worth listing (an older version, a dropped table).
        partial = len(w.missing) < len(RELATIONS)
        detail = f"{NOT_SET_UP}; missing {', '.join(w.missing)}" if partial else NOT_SET_UP
        checks.append(Check(Level.WARN, "warehouse.schema", detail))
        return checks
    checks.append(_horizon_check(w.horizon, settings, now))
    checks.append(
        _rejects_check("batch.rejects", w.ledger_rejects, w.ledger_events + w.ledger_rejects, "")
    )
    checks.append(_speed_check(w.last_speed_batch, facts.kafka, settings, now))
    if w.max_event_time is None:
        checks.append(Check(Level.OK, "speed.freshness", "no event seen by the speed layer yet"))
    else:
        checks.append(
            Check(
                Level.OK,
                "speed.freshness",
                f"newest event {w.max_event_time:%Y-%m-%d %H:%M:%S} "
                f"({_relative(now - w.max_event_time)})",
            )
        )
    checks.append(
        _rejects_check("speed.rejects", w.speed_rejects_day, w.speed_input_day, " in the last day")
    )
    for table in COUNTED:
        checks.append(Check(Level.OK, f"rows.{table}", f"{w.counts.get(table, 0):,}"))
    checks.append(
        Check(
            Level.OK,
            "rows.serving_view",
            f"{_plural(w.serving_rows, 'row')}, {_plural(w.serving_tweets, 'tweet')}",
        )
    )
    if w.duplicates:
        # The serving view's one promise: no (hour, location) counted by both layers.
        checks.append(
            Check(
                Level.FAIL,
                "serving.integrity",
                f"{w.duplicates:,} (hour, location) groups served more than once",
            )
        )
    else:
        checks.append(Check(Level.OK, "serving.integrity", "no (hour, location) served twice"))
    return checks


def _horizon_check(horizon: datetime | None, settings: Settings, now: datetime) -> Check:
    name = "batch.horizon"
    if horizon is None:
        return Check(Level.WARN, name, "no batch cycle yet (make batch-once, or make batch)")
    age = now - horizon
    limit = (
        timedelta(seconds=settings.allowed_lateness)
        + HORIZON_SLACK
        + 2 * timedelta(seconds=settings.batch_interval)
    )
    detail = f"{horizon:%Y-%m-%d %H:%M} ({_duration(age)} old, limit {_duration(limit)})"
    if age < timedelta(0):
        return Check(Level.WARN, name, f"{horizon:%Y-%m-%d %H:%M} is in the future: clock skew?")
    if age > limit + HORIZON_FAIL_AFTER:
        return Check(Level.FAIL, name, f"{detail}: no batch cycle for over a day")
    if age > limit:
        return Check(Level.WARN, name, f"{detail}: is the batch layer running? (make batch)")
    return Check(Level.OK, name, detail)


def speed_fresh_limit(settings: Settings) -> timedelta:
    """How old the speed layer's last micro-batch may be and still count as running."""
    return max(SPEED_FRESH_MIN, SPEED_FRESH_TRIGGERS * timedelta(seconds=settings.speed_trigger))


def _speed_check(
    last: SpeedBatchFacts | None, kafka: KafkaFacts, settings: Settings, now: datetime
) -> Check:
    name = "speed.last-batch"
    if last is None:
        return Check(Level.WARN, name, "no micro-batch yet (is make speed running?)")
    age = now - last.finished_at
    detail = f"batch {last.batch_id} finished {_relative(age)} ({last.input_rows:,} input rows)"
    if age <= speed_fresh_limit(settings):
        return Check(Level.OK, name, detail)
    newest = _newest_message(kafka)
    if kafka.error is None and kafka.offsets_error is None and kafka.topic_exists:
        if newest is None or newest <= last.finished_at:
            return Check(Level.OK, name, f"{detail}; idle: no newer message in Kafka")
        waiting = f"{detail}; messages produced since (newest {newest:%Y-%m-%d %H:%M:%S})"
        if age > SPEED_FAIL_AFTER:
            return Check(Level.FAIL, name, f"{waiting}: the speed layer is down")
        return Check(Level.WARN, name, f"{waiting}: is make speed running?")
    return Check(
        Level.WARN, name, f"{detail}; without Kafka's offsets, cannot tell idle from stopped"
    )


def _newest_message(kafka: KafkaFacts) -> datetime | None:
    stamps = [p.newest_at for p in kafka.partitions if p.newest_at is not None]
    return max(stamps) if stamps else None


def _rejects_check(name: str, rejects: int, total: int, when: str) -> Check:
    if total == 0:
        return Check(Level.OK, name, f"none (no messages read yet{when})")
    share = rejects / total
    detail = f"{rejects:,} of {total:,} messages{when} ({share:.1%})"
    if share > REJECT_WARN_RATIO:
        return Check(
            Level.WARN,
            name,
            f"{detail}: over {REJECT_WARN_RATIO:.0%}, is a producer sending bad events?",
        )
    return Check(Level.OK, name, detail)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _duration(span: timedelta) -> str:
    """``45s``, ``12m``, ``1h05m``, ``2d03h``: compact and rounded down."""
    seconds = int(abs(span).total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m" if not secs else f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _relative(age: timedelta) -> str:
    """``3m ago``, or ``in 5m`` for a time ahead of the clock."""
    return f"{_duration(age)} ago" if age >= timedelta(0) else f"in {_duration(age)}"


# Output. -------------------------------------------------------------------------------


def worst(checks: list[Check]) -> Level:
    """The worst level among the checks (OK when there are none)."""
    return max((c.level for c in checks), key=_RANK.__getitem__, default=Level.OK)


def exit_code(checks: list[Check]) -> int:
    """1 when any check FAILs, else 0 (WARN is not a failure)."""
    return 1 if worst(checks) is Level.FAIL else 0


def summary(checks: list[Check]) -> str:
    """``status: 14 OK, 1 WARN, 0 FAIL``."""
    counts = Counter(c.level for c in checks)
    return "status: " + ", ".join(f"{counts[level]} {level}" for level in Level)


def render_table(checks: list[Check]) -> str:
    """One aligned line per check, then the summary line."""
    width = max((len(c.name) for c in checks), default=0)
    lines = [f"{c.level:<5} {c.name:<{width}}  {c.detail}".rstrip() for c in checks]
    return "\n".join([*lines, summary(checks)]) + "\n"


def render_json(checks: list[Check]) -> str:
    """The checks as one JSON document (for monitoring)."""
    counts = Counter(c.level for c in checks)
    document = {
        "status": worst(checks).value,
        "counts": {level.value: counts[level] for level in Level},
        "checks": [{**asdict(c), "level": c.level.value} for c in checks],
    }
    return json.dumps(document, indent=2) + "\n"


# Gathering the facts (I/O). ------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _scrub(text: str, settings: Settings) -> str:
    """Belt and braces: neither warehouse password ever reaches the output."""
    for password in (settings.warehouse.password, settings.query.password):
        if password:
            text = text.replace(password, "***")
    return text


def _ms_to_utc(ms: int) -> datetime | None:
    if ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


T = TypeVar("T")


def _retrying(call: Callable[[], T], attempts: int = 3) -> T:
    """``call()``, retried on a retriable Kafka error (a fresh broker has no group
    coordinator until the first lookup creates ``__consumer_offsets``)."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except KafkaError as e:
            if not getattr(e, "retriable", False) or attempt == attempts:
                raise
            logger.debug("retrying after %s", e)
            time.sleep(1.0)
    raise AssertionError("unreachable")


def gather_kafka(settings: Settings, *, timeout_s: float = TIMEOUT_S) -> KafkaFacts:
    """Brokers, the topic's partitions, their offsets and the batch group's commits.

    Only reads: an admin client never joins the batch layer's consumer group.
    """
    topic = settings.kafka_topic
    facts = KafkaFacts(servers=settings.kafka_bootstrap_servers, topic=topic)
    try:
        admin = admin_client(settings, timeout_s=timeout_s)
    except LambdaError as e:
        facts.error = str(e)
        return facts
    try:
        facts.brokers = len(admin.describe_cluster().get("brokers", []))
        (described,) = admin.describe_topics([topic])
        error = for_code(int(described.get("error_code") or 0))
        if error is UnknownTopicOrPartitionError:
            return facts
        facts.topic_exists = True
        if error is not NoError:
            facts.offsets_error = f"cannot describe the topic: {error.__name__}"
            return facts
        try:
            facts.partitions = _partition_facts(admin, topic, described)
        except KafkaError as e:
            facts.offsets_error = f"cannot read offsets: {_one_line(e)}"
    except KafkaError as e:
        facts.error = f"Kafka at {facts.servers}: {_one_line(e)}"
    finally:
        admin.close()
    return facts


def _partition_facts(admin: Any, topic: str, described: dict[str, Any]) -> list[PartitionFacts]:
    numbers = sorted(int(p["partition_index"]) for p in described.get("partitions", []))
    tps = [TopicPartition(topic, n) for n in numbers]
    if not tps:
        return []

    def offsets(spec: OffsetSpec) -> dict[Any, Any]:
        return dict(_retrying(lambda: admin.list_partition_offsets(dict.fromkeys(tps, spec))))

    ends = offsets(OffsetSpec.LATEST)
    beginnings = offsets(OffsetSpec.EARLIEST)
    try:
        newest = offsets(OffsetSpec.MAX_TIMESTAMP)
    except KafkaError as e:  # brokers before 3.0 do not know MAX_TIMESTAMP
        logger.debug("newest message times unavailable: %s", e)
        newest = {}
    groups = _retrying(lambda: admin.list_group_offsets({BATCH_GROUP_ID: tps}))
    committed = groups.get(BATCH_GROUP_ID, {})
    result = []
    for tp in tps:
        mark = committed.get(tp)
        stamp = newest.get(tp)
        result.append(
            PartitionFacts(
                partition=tp.partition,
                beginning=int(beginnings[tp].offset),
                end=int(ends[tp].offset),
                committed=int(mark.offset) if mark is not None and mark.offset >= 0 else None,
                newest_at=_ms_to_utc(int(stamp.timestamp)) if stamp is not None else None,
            )
        )
    return result


def gather_s3(settings: Settings, *, timeout_s: float = TIMEOUT_S) -> S3Facts:
    """Whether ``head_bucket`` succeeds (two attempts, short timeouts)."""
    facts = S3Facts(bucket=settings.s3_bucket, endpoint=settings.s3_endpoint_url or "AWS")
    try:
        S3ObjectStore(settings, attempts=2, read_timeout_s=int(timeout_s)).check()
    except LambdaError as e:
        facts.error = str(e)
    return facts


def gather_warehouse(
    settings: Settings, now: datetime, *, timeout_s: float = TIMEOUT_S
) -> WarehouseFacts:
    """The horizon, ledger, speed-batch status, row counts and the integrity check."""
    # As QUERY_DSN's user: a health check only reads.
    reader = Warehouse(settings, connect_timeout_s=max(1, int(timeout_s)), role="reader")
    facts = WarehouseFacts(where=reader.where, dialect=settings.warehouse_dialect)
    try:
        with reader as wh:
            wh.execute(f"SET statement_timeout TO {int(QUERY_TIMEOUT_MS)}")
            facts.missing = tuple(name for name in RELATIONS if not _exists(wh, name))
            if not facts.missing:
                _read_warehouse(wh, facts, settings, _naive_utc(now))
    except LambdaError as e:
        facts.error = _scrub(str(e), settings)
    except psycopg2.Error as e:
        facts.error = _scrub(f"warehouse at {facts.where}: {_one_line(e)}", settings)
    return facts


def _exists(wh: Warehouse, name: str) -> bool:
    try:
        wh.query(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(sql.Identifier(name)))
    except psycopg2.errors.UndefinedTable:
        return False
    return True


def _read_warehouse(
    wh: Warehouse, facts: WarehouseFacts, settings: Settings, now: datetime
) -> None:
    ((facts.horizon,),) = wh.query(load_sql("horizon_get", settings.warehouse_dialect))
    ((events, rejects),) = wh.query(
        "SELECT COALESCE(SUM(events), 0), COALESCE(SUM(rejects), 0) FROM load_ledger"
    )
    facts.ledger_events, facts.ledger_rejects = int(events), int(rejects)
    last = wh.query(
        "SELECT batch_id, finished_at, input_rows FROM speed_batches "
        "ORDER BY finished_at DESC, batch_id DESC LIMIT 1"
    )
    if last:
        batch_id, finished_at, input_rows = last[0]
        facts.last_speed_batch = SpeedBatchFacts(int(batch_id), finished_at, int(input_rows))
    ((facts.max_event_time,),) = wh.query("SELECT MAX(max_event_time) FROM speed_batches")
    ((speed_input, speed_rejects),) = wh.query(
        "SELECT COALESCE(SUM(input_rows), 0), COALESCE(SUM(rejects), 0) FROM speed_batches "
        "WHERE finished_at >= %s",
        (now - timedelta(days=1),),
    )
    facts.speed_input_day, facts.speed_rejects_day = int(speed_input), int(speed_rejects)
    for table in COUNTED:
        ((count,),) = wh.query(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table)))
        facts.counts[table] = int(count)
    ((rows, tweets),) = wh.query("SELECT COUNT(*), COALESCE(SUM(tweet_count), 0) FROM serving_view")
    facts.serving_rows, facts.serving_tweets = int(rows), int(tweets)
    ((duplicates,),) = wh.query(
        "SELECT COUNT(*) FROM (SELECT event_hour, location FROM serving_view "
        "GROUP BY event_hour, location HAVING COUNT(*) > 1) AS d"
    )
    facts.duplicates = int(duplicates)


def gather(settings: Settings, now: datetime) -> Facts:
    """Ask Kafka, S3 and the warehouse in parallel; never raises for a service that is down.

    An unexpected error in one source (a bug, an odd vendor error) is reported as that
    source's failure, one line, so the other checks still run.
    """

    def guarded(source: str, call: Callable[[], T], failed: Callable[[str], T]) -> T:
        try:
            return call()
        except Exception as e:  # the health check's boundary: report, never crash
            logger.debug("%s check failed", source, exc_info=True)
            return failed(_scrub(f"{source}: {type(e).__name__}: {_one_line(e)}", settings))

    def kafka_failed(message: str) -> KafkaFacts:
        return KafkaFacts(settings.kafka_bootstrap_servers, settings.kafka_topic, error=message)

    def s3_failed(message: str) -> S3Facts:
        return S3Facts(settings.s3_bucket, settings.s3_endpoint_url or "AWS", error=message)

    def warehouse_failed(message: str) -> WarehouseFacts:
        # The same user the check connects as (gather_warehouse).
        where = Warehouse(settings, role="reader").where
        return WarehouseFacts(where, settings.warehouse_dialect, error=message)

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="status") as pool:
        kafka = pool.submit(guarded, "Kafka", lambda: gather_kafka(settings), kafka_failed)
        s3 = pool.submit(guarded, "S3", lambda: gather_s3(settings), s3_failed)
        warehouse = pool.submit(
            guarded, "warehouse", lambda: gather_warehouse(settings, now), warehouse_failed
        )
        return Facts(kafka=kafka.result(), s3=s3.result(), warehouse=warehouse.result())


# The sub-command. ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="an aligned table (default) or JSON for monitoring",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Gather, evaluate, print; returns 1 when any check FAILs, else 0."""
    if settings.log_level != "DEBUG":
        # kafka-python logs every refused connection while it retries; the report's
        # one FAIL line says the same, so keep stderr quiet unless debugging.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    now = datetime.now(UTC).replace(tzinfo=None)
    checks = evaluate(gather(settings, now), settings, now)
    render = render_json if args.format == "json" else render_table
    sys.stdout.write(render(checks))
    sys.stdout.flush()
    return exit_code(checks)
