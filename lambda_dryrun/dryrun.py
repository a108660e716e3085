"""``make redshift-sql``: every SQL statement the Redshift path runs, without a Redshift.

The real code runs, with ``WAREHOUSE_DIALECT=redshift``, against a recording connection
(:mod:`lambda_common.warehouse.recorder`) in place of the warehouse, an in-memory bucket in
place of S3 and an in-memory topic in place of Kafka, in three phases:

- ``init``: what ``make init`` runs in the warehouse (``Warehouse.ensure_schema`` on a
  new one; the topic and the bucket are not SQL);
- ``batch``: one batch cycle, as ``make batch-once`` runs it (the schema check every
  cycle starts with, the topic's registration, then the publish: COPY from S3 through
  its manifest, the merge, the ledger, the watermarks, every view rebuilt, the horizon);
- ``speed``: one micro-batch of the speed job (the first of a new checkpoint: it takes
  the speed tables over), and its status row.

Nothing is hard-coded: the statements are what the code sends, so a change to a SQL file
or to the code that sends it shows here. Values are never shown: a statement keeps its
placeholders (``%(name)s``, ``%s`` for each value of a multi-row INSERT), and the names
of the values bound to it are listed beside it. Nothing connects anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg2.extensions

from batch_layer.cycle import Services, cycle, open_target
from lambda_common.contract import Event
from lambda_common.kafka.eventlog import InMemoryEventLog
from lambda_common.objectstore import InMemoryObjectStore
from lambda_common.settings import Settings
from lambda_common.views import HOUR, View
from lambda_common.warehouse import Warehouse
from lambda_common.warehouse.recorder import RecordingConnection, Sent
from lambda_dryrun.scenario import DIALECT, NewWarehouse
from speed_layer.events import from_rows
from speed_layer.view import BatchStatus, SpeedView, ViewRow

__all__ = ["PHASES", "Phase", "dry_run"]

PHASES = ("init", "batch", "speed")
"""The phases, in the order they run (each after the one before it)."""

QUERY_ID = "00000000-0000-0000-0000-000000000000"
"""The streaming query id the micro-batch is recorded under (a bound value: not shown)."""


@dataclass(frozen=True)
class Phase:
    """One phase's name, what it stands for, and what was sent, in order."""

    name: str
    title: str
    sent: tuple[Sent, ...]

    @property
    def statements(self) -> list[Sent]:
        """The statements alone (no commits or rollbacks)."""
        return [s for s in self.sent if s.kind == "statement"]


class _RecordedWarehouse(Warehouse):
    """A warehouse whose connection is the recorder: it never connects anywhere."""

    def __init__(self, settings: Settings, conn: RecordingConnection) -> None:
        super().__init__(settings)
        self._recorder = conn

    def connection(self) -> psycopg2.extensions.connection:
        return self._recorder  # type: ignore[return-value]


def redshift_settings(settings: Settings) -> Settings:
    """``settings`` on the Redshift path (the rest as configured: the views, the topic's
    partitions, the COPY's credentials choose what is sent)."""
    return settings.model_copy(update={"warehouse_dialect": DIALECT})


def dry_run(
    settings: Settings, *, now: datetime | None = None, until: str = PHASES[-1]
) -> list[Phase]:
    """Run the phases in order, up to ``until``, against a recording warehouse; what each
    sent, in order (a phase runs on what the ones before it left)."""
    settings = redshift_settings(settings)
    when = (now or datetime.now(UTC)).replace(minute=30, second=0, microsecond=0)
    state = NewWarehouse()
    answers = state.answers()

    def record(body: Callable[[Warehouse], None]) -> tuple[Sent, ...]:
        conn = RecordingConnection(answers)
        body(_RecordedWarehouse(settings, conn))
        return tuple(conn.journal)

    steps: list[tuple[str, str, Callable[[Warehouse], None]]] = [
        ("init", "make init: the warehouse's tables, views and grants", _init),
        (
            "batch",
            "one batch cycle (make batch-once): schema check, COPY from S3, merge, views, horizon",
            lambda wh: _batch_cycle(settings, wh, state, when),
        ),
        (
            "speed",
            "two speed micro-batches (a new checkpoint's first; the second keeps its status)",
            lambda wh: _micro_batch(settings, wh, when),
        ),
    ]
    assert tuple(name for name, _, _ in steps) == PHASES
    phases = []
    for name, title, body in steps[: PHASES.index(until) + 1]:
        phases.append(Phase(name, title, record(body)))
    return phases


def _init(warehouse: Warehouse) -> None:
    warehouse.ensure_schema()


def _events(settings: Settings, when: datetime) -> list[tuple[int, bytes]]:
    """One event per partition of the topic (its partition, its message)."""
    out = []
    for partition in range(settings.kafka_topic_partitions):
        event = Event(
            tweet_id=str(1000 + partition),
            created_at=when - timedelta(hours=2),
            user_id="u",
            followers_count=1,
            favorite_count=1,
            retweet_count=1,
            location="Somewhere",
            lang="en",
            hashtags=("#tag",),
        )
        out.append((partition, event.to_json_bytes()))
    return out


def _batch_cycle(
    settings: Settings, warehouse: Warehouse, state: NewWarehouse, when: datetime
) -> None:
    """One cycle as ``run_cycle`` runs it, on an in-memory topic and bucket."""
    log = InMemoryEventLog()
    topic = settings.kafka_topic
    log.create(topic, settings.kafka_topic_partitions)
    stamp = int((when - timedelta(hours=2)).timestamp() * 1000)
    for partition, value in _events(settings, when):
        log.append(topic, partition, value, stamp)
    # The hours the staged rows fall in (what staging_hours reads back).
    state.staged_hours = [(when - timedelta(hours=2)).replace(minute=0, tzinfo=None)]
    # Every landed line loads: COPY rejects none (what pg_last_copy_count reads back).
    state.copied_rows = settings.kafka_topic_partitions
    store = InMemoryObjectStore(settings.s3_bucket)
    store.ensure_bucket()
    target = open_target(settings, warehouse, store)
    # No settings in the services: the chunks land in this process (the in-memory topic
    # is not reachable from worker processes); the SQL is the same.
    cycle(Services(log, store, target), topic, settings.allowed_lateness, now=when)


def _key_value(sql_type: str) -> Any:
    """A value of a view's key type (never shown: its placeholder is)."""
    if sql_type.startswith("varchar"):
        return "x"
    if sql_type in ("bigint", "integer"):
        return 0
    if sql_type == "boolean":
        return False
    if sql_type == "date":
        return date(2000, 1, 1)
    return datetime(2000, 1, 1)


def _view_rows(view: View, hour: datetime) -> list[ViewRow]:
    """One row of ``view`` for ``hour``: its keys, then the four measures."""
    keys = [_key_value(k.sql_type) for k in view.keys]
    assert view.key_columns[0] == HOUR
    return [(hour, *keys, 1, 1, 1, 1)]


def _micro_batch(settings: Settings, warehouse: Warehouse, when: datetime) -> None:
    """The first micro-batch of a new checkpoint, as the speed job's sink applies it,
    then the next one, which carries the first one's status row (a status exists only
    once Spark finished its micro-batch, after that one's commit)."""
    speed = SpeedView(settings, warehouse)
    hour = when.replace(minute=0, tzinfo=None)
    # The job hands the sink the micro-batch's events: every view's SELECT runs over them.
    rows = from_rows([("1", hour, "(unknown)", "(unknown)", "u", 1, 1, 1, ["tag"])])
    applied = speed.apply(QUERY_ID, 0, rows)
    status = BatchStatus(
        batch_id=0,
        input_rows=1,
        rejects=0,
        rows_written=applied[0] if applied else 0,
        duration_ms=1,
        max_event_time=hour,
        finished_at=when.replace(tzinfo=None),
    )
    speed.apply(QUERY_ID, 1, rows, statuses=[status])
