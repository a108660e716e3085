"""``make status``'s I/O: the facts, asked of Kafka, S3 and the warehouse in parallel.

Each service gets short timeouts, and one that is unreachable (or fails in an unexpected
way) becomes that source's error, one line, so the others are still asked. Only reads:
Kafka through an admin client (never joining the batch layer's group), the warehouse as
the reader role (QUERY_DSN), every statement from a ``status_*.sql`` file.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError, NoError, UnknownTopicOrPartitionError, for_code
from psycopg2 import sql

from lambda_common.errors import LambdaError
from lambda_common.kafka.broker import BATCH_GROUP_ID, admin_client
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import View
from lambda_common.warehouse import Warehouse
from serving_layer.status_checks import LOSS_LINES, naive_utc
from serving_layer.status_facts import (
    COUNTED,
    Facts,
    IncarnationFacts,
    KafkaFacts,
    LossFacts,
    PartitionFacts,
    S3Facts,
    SpeedBatchFacts,
    VerifyFacts,
    ViewFacts,
    WarehouseFacts,
    relations,
)

logger = logging.getLogger(__name__)

# Every service gets at most this long to connect or answer one request, so a status run
# with a service down still ends within seconds (the three are asked in parallel).
TIMEOUT_S = 5
# A warehouse query that takes longer than this is cancelled (a health check must end).
QUERY_TIMEOUT_MS = 15_000

T = TypeVar("T")


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def scrub(text: str, settings: Settings) -> str:
    """Belt and braces: neither warehouse password ever reaches the output."""
    for password in (settings.warehouse.password, settings.query.password):
        if password:
            text = text.replace(password, "***")
    return text


def _ms_to_utc(ms: int) -> datetime | None:
    if ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


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


# Kafka --------------------------------------------------------------------------------


def gather_kafka(settings: Settings, *, timeout_s: float = TIMEOUT_S) -> KafkaFacts:
    """Brokers, the topic's id and partitions, their offsets and the batch group's commits.

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
        facts.topic_id = _topic_id(described)
        try:
            facts.partitions = _partition_facts(admin, topic, described)
        except KafkaError as e:
            facts.offsets_error = f"cannot read offsets: {_one_line(e)}"
    except KafkaError as e:
        facts.error = f"Kafka at {facts.servers}: {_one_line(e)}"
    finally:
        admin.close()
    return facts


def _topic_id(described: dict[str, Any]) -> str | None:
    """Kafka's id of the topic's incarnation, as the batch layer stores it (``str`` of the
    UUID); None when the broker reports none (before 2.8, it answers the all-zero id)."""
    raw = described.get("topic_id")
    if not raw or raw == uuid.UUID(int=0):
        return None
    return str(raw)


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


# S3 -----------------------------------------------------------------------------------


def gather_s3(settings: Settings, *, timeout_s: float = TIMEOUT_S) -> S3Facts:
    """Whether ``head_bucket`` succeeds (two attempts, short timeouts)."""
    facts = S3Facts(bucket=settings.s3_bucket, endpoint=settings.s3_endpoint_url or "AWS")
    try:
        S3ObjectStore(settings, attempts=2, read_timeout_s=int(timeout_s)).check()
    except LambdaError as e:
        facts.error = str(e)
    return facts


# The warehouse ----------------------------------------------------------------------


def gather_warehouse(
    settings: Settings, now: datetime, *, timeout_s: float = TIMEOUT_S
) -> WarehouseFacts:
    """The horizon, ledger, speed-batch status, row counts, each view's counts and
    integrity (``settings.views``), and the batch layer's records of the topic: its
    incarnation, offset losses, watermarks."""
    # As QUERY_DSN's user: a health check only reads.
    reader = Warehouse(settings, connect_timeout_s=max(1, int(timeout_s)), role="reader")
    facts = WarehouseFacts(where=reader.where, dialect=settings.warehouse_dialect)
    try:
        with reader as wh:
            _run(wh, "status_statement_timeout", {"ms": int(QUERY_TIMEOUT_MS)})
            # A schema without all of them (not set up, or an older version) is reported
            # as such, and nothing is read from it.
            expected = relations(settings.views)
            facts.missing = tuple(name for name in expected if not _exists(wh, name))
            if not facts.missing:
                _read_warehouse(wh, facts, settings, naive_utc(now))
    except LambdaError as e:
        facts.error = scrub(str(e), settings)
    except psycopg2.Error as e:
        facts.error = scrub(f"warehouse at {facts.where}: {_one_line(e)}", settings)
    return facts


def _statement(
    wh: Warehouse, name: str, fill: Mapping[str, sql.Composable] | None
) -> str | sql.Composable:
    """The one statement of ``status_*.sql`` file ``name``; ``fill`` fills its
    placeholders (``{relation}``, ``{keys}``) with identifiers the caller quoted."""
    (text,) = statements(load_sql(name, wh.dialect))
    if fill is None:
        return text
    return sql.SQL(text).format(**fill)


def _rows(
    wh: Warehouse,
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    fill: Mapping[str, sql.Composable] | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of one query file, in a transaction of its own."""
    statement = _statement(wh, name, fill)
    with wh.transaction() as cur:
        cur.execute(statement, params)
        return list(cur.fetchall())


def _relation(name: str) -> dict[str, sql.Composable]:
    # Names come from view definitions (VIEWS_DIR): always quoted, never formatted in.
    return {"relation": sql.Identifier(name)}


def _run(wh: Warehouse, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Run one statement file that returns no rows."""
    statement = _statement(wh, name, None)
    with wh.transaction() as cur:
        cur.execute(statement, params)


def _exists(wh: Warehouse, name: str) -> bool:
    try:
        _rows(wh, "status_relation_probe", fill=_relation(name))
    except psycopg2.errors.UndefinedTable:
        return False
    return True


def _read_warehouse(
    wh: Warehouse, facts: WarehouseFacts, settings: Settings, now: datetime
) -> None:
    ((facts.horizon,),) = _rows(wh, "horizon_get")
    ((events, rejects),) = _rows(wh, "status_ledger_totals")
    facts.ledger_events, facts.ledger_rejects = int(events), int(rejects)
    last = _rows(wh, "status_speed_last")
    if last:
        batch_id, finished_at, input_rows, duration_ms = last[0]
        facts.last_speed_batch = SpeedBatchFacts(
            int(batch_id), finished_at, int(input_rows), int(duration_ms)
        )
    ((facts.max_event_time,),) = _rows(wh, "status_speed_newest_event")
    ((speed_input, speed_rejects),) = _rows(
        wh, "status_speed_day", {"since": now - timedelta(days=1)}
    )
    facts.speed_input_day, facts.speed_rejects_day = int(speed_input), int(speed_rejects)
    for table in COUNTED:
        facts.counts[table] = _count(wh, table)
    facts.views = tuple(_view_facts(wh, view) for view in settings.views)
    _read_batch_records(wh, facts, settings.kafka_topic)
    verified = _rows(wh, "status_verify_last", {"topic": settings.kafka_topic})
    if verified:
        finished_at, ok, views, rows, events, duration_s, failed = verified[0]
        facts.last_verify = VerifyFacts(
            finished_at, bool(ok), int(views), int(rows), int(events), float(duration_s), failed
        )


def _count(wh: Warehouse, table: str) -> int:
    ((count,),) = _rows(wh, "status_rows", fill=_relation(table))
    return int(count)


def _view_facts(wh: Warehouse, view: View) -> ViewFacts:
    """One view's tables counted, and its serving view read once: rows, tweets, and key
    groups served more than once."""
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in view.key_columns)
    ((rows, tweets, duplicates),) = _rows(
        wh, "status_serving", fill={**_relation(view.serving_view), "keys": keys}
    )
    return ViewFacts(
        view,
        batch_rows=_count(wh, view.batch_table),
        speed_rows=_count(wh, view.speed_table),
        serving_rows=int(rows),
        serving_tweets=int(tweets),
        duplicates=int(duplicates),
    )


def _read_batch_records(wh: Warehouse, facts: WarehouseFacts, topic: str) -> None:
    """What the batch layer recorded about ``topic``: its incarnation, the offsets it
    lost to retention, and which partitions it has handled."""
    newest = _rows(wh, "status_topic_newest", {"topic": topic})
    if newest:
        generation, topic_id, started_at = newest[0]
        facts.incarnation = IncarnationFacts(int(generation), str(topic_id), started_at)
    ((open_, acknowledged),) = _rows(wh, "status_losses_count", {"topic": topic})
    facts.losses_open, facts.losses_acknowledged = int(open_), int(acknowledged)
    if facts.losses_open:
        facts.losses = tuple(
            LossFacts(topic, int(g), int(p), int(first), int(last), detected_at)
            for g, p, first, last, detected_at in _rows(
                wh, "status_losses_open", {"topic": topic, "limit": LOSS_LINES}
            )
        )
    facts.watermarked = frozenset(
        int(p) for (p,) in _rows(wh, "status_watermarked", {"topic": topic})
    )


# All three --------------------------------------------------------------------------


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
            return failed(scrub(f"{source}: {type(e).__name__}: {_one_line(e)}", settings))

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
