"""The speed layer's side of the warehouse: every view's speed table, ``speed_progress``
and ``speed_batches``.

Kept apart from Spark so it can be exercised with plain rows; the Spark job hands it each
micro-batch's rows of every view (the view's aggregation of the micro-batch's new,
de-duplicated events: increments, which ``speed_progress`` makes sure are applied once).

One micro-batch is one transaction, and a small fixed number of statements whatever its
size, because Redshift queues commits and every statement has a cost of its own there:

    LOCK speed_progress
    SELECT speed_progress and the horizon           (one statement)
    COPY (PostgreSQL) or INSERT (Redshift: multi-row VALUES lists) of the events and
        their hashtags into speed_staged_tweets, speed_staged_hashtags
    per view:
        INSERT INTO the view's staging table the view's own SELECT over the staged
            events from the horizon on          (the text the batch layer runs)
        MERGE the staging table into the speed table
        DELETE FROM the staging table
    DELETE FROM speed_staged_tweets, speed_staged_hashtags
    UPDATE (first ever: INSERT) speed_progress
    DELETE + INSERT speed_batches                   (the status rows the job hands over)
    COMMIT

and, only in the micro-batches that need them: the staging tables made (first
micro-batch of a connection, then every ``STAGING_REUSE``), a view's hours before a
horizon it has not cut at yet deleted, or (a fresh checkpoint's first micro-batch) the
speed tables emptied. A micro-batch without new events sends no staging statement.

``apply`` takes the views' rows computed elsewhere too (a mapping of view name to rows:
one INSERT of them per view instead of the events' two and the view's SELECT): the way
the speed layer wrote before its views were aggregated in the warehouse, kept as the
reference the tests compare the events' way with.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from psycopg2 import extensions

from lambda_common.errors import LambdaError
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import View
from lambda_common.views.sql import (
    speed_aggregate,
    speed_clear,
    speed_expire,
    speed_insert,
    speed_merge,
    speed_staging,
)
from lambda_common.warehouse import Cursor, Warehouse
from speed_layer.events import (
    HASHTAG_COLUMNS,
    STAGED_COLUMNS,
    StagedEvents,
    csv_bytes,
    python_rows,
    value_rows,
)

logger = logging.getLogger(__name__)

# One row of a view as the speed layer computed it for a micro-batch: the key columns
# (event_hour a naive UTC datetime first), then the four measures (exact ints).
ViewRow = tuple[Any, ...]

Decision = Literal["apply", "skip", "take over"]

STAGING_REUSE = 100
"""Micro-batches a connection's staging tables serve before they are made again. Each
micro-batch empties them with DELETE, whose rows stay on disk until a vacuum reclaims
them: never for a temporary table on PostgreSQL (autovacuum skips those), when its
background VACUUM DELETE gets to it on Redshift. Made again, a table starts empty, so a
scan of it stays as short as the micro-batch it holds. Costs two statements a view once
in this many micro-batches."""

MAX_STATEMENT_BYTES = 8 * 1024 * 1024
"""The most one multi-row INSERT carries: half of Redshift's 16 MB per statement, room
for any key. About 100,000 view rows; a micro-batch with more is sent in several."""

BEGINNING = datetime(1, 1, 1)
"""The horizon of a warehouse without one: every hour is the speed tables'."""

FENCED = "speed tables fenced"
"""Opens the message of ``SpeedFenced``: the job's supervisor recognises it as final."""


class SpeedFenced(LambdaError):
    """Another streaming query (another checkpoint) writes the speed tables, or the
    warehouse lost this query's progress: restarting would only meet it again."""


def fence(stored: tuple[str, int] | None, query_id: str, batch_id: int) -> Decision:
    """What to do with micro-batch ``batch_id`` of streaming query ``query_id``, given the
    (query, last batch) ``speed_progress`` recorded.

    ``apply`` the next micro-batch of the recorded query; ``skip`` one it applied already
    (Spark replays the last micro-batch after a crash between the warehouse's commit and
    its own); ``take over`` at the first micro-batch of a new query (a fresh checkpoint,
    which reads the topic from its start: the speed tables are emptied first). Raises
    ``SpeedFenced`` for a later micro-batch of a query that is not the recorded one.
    """
    if stored is not None and stored[0] == query_id:
        return "skip" if batch_id <= stored[1] else "apply"
    if batch_id == 0:
        return "take over"
    if stored is None:
        raise SpeedFenced(
            f"{FENCED}: the warehouse has no record of the micro-batches this checkpoint "
            f"applied (query {query_id}, batch {batch_id}): move SPEED_CHECKPOINT aside and "
            "restart, so that the job rebuilds the speed tables from the topic"
        )
    raise SpeedFenced(
        f"{FENCED}: another speed job (query {stored[0]}) took the speed tables over; "
        "stop this one (one speed job per warehouse)"
    )


@dataclass(frozen=True)
class BatchStatus:
    """What ``make status`` shows of one micro-batch."""

    batch_id: int
    input_rows: int
    rejects: int
    rows_written: int
    duration_ms: int
    max_event_time: datetime | None
    finished_at: datetime

    def line(self) -> str:
        """The job's one log line per micro-batch."""
        newest = f"{self.max_event_time:%Y-%m-%d %H:%M:%S}" if self.max_event_time else "-"
        return (
            f"speed batch {self.batch_id}: {self.input_rows:,} input rows, "
            f"{self.rejects:,} rejects, {self.rows_written:,} view rows written, "
            f"{self.duration_ms / 1000:.2f}s, max event time {newest}"
        )


class SpeedView:
    """Applies micro-batches to every view's speed table, each in one transaction.

    Keeps, between micro-batches, the connection whose session holds the staging tables
    (made in a micro-batch's transaction, so they exist once it committed) and the horizon
    the speed tables were last cut at in a committed micro-batch (nothing before it is left
    in them: rows before the horizon are never staged). Not thread-safe: one writer.
    """

    def __init__(self, settings: Settings, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.dialect = settings.warehouse_dialect
        self.views = settings.views
        self.retention = timedelta(seconds=settings.speed_retention)
        self._staged_on: object | None = None
        self._staged_uses = 0
        self._cut_at: datetime | None = None

    def _run(self, cur: Cursor, name: str, params: dict[str, Any] | None = None) -> None:
        _execute(cur, statements(load_sql(name, self.dialect)), params)

    def apply(
        self,
        query_id: str,
        batch_id: int,
        rows: Mapping[str, Sequence[ViewRow]] | StagedEvents,
        statuses: Sequence[BatchStatus] = (),
    ) -> tuple[int, datetime | None] | None:
        """Add one micro-batch to the speed tables: its new, de-duplicated events
        (``StagedEvents``, aggregated by every view's SELECT in the warehouse), or its rows
        by view name (each view's aggregation of them, one row per key); drop hours before
        the horizon, record the micro-batch in ``speed_progress`` and keep ``statuses``
        (earlier micro-batches' status rows) in ``speed_batches``: one transaction, so
        every view moves together and a replayed micro-batch is recognised (None: skipped;
        its statuses are kept all the same).

        Returns (rows written at or after the horizon, the horizon used). Readers see the
        tables before or after, never in between: no TRUNCATE (it commits on Redshift).
        """

        def work(cur: Cursor) -> _Outcome:
            self._run(cur, "speed_lock")
            (state,) = statements(load_sql("speed_progress_get", self.dialect))
            cur.execute(state)
            found = cur.fetchone()
            stored = (str(found[0]), int(found[1])) if found and found[0] is not None else None
            horizon: datetime | None = found[2] if found else None
            newest: datetime | None = found[3] if found else None
            decision = fence(stored, query_id, batch_id)
            outcome = _Outcome(cur.connection, horizon)
            if decision != "skip":
                outcome.restaged = self._staging_due(cur.connection)
                if isinstance(rows, StagedEvents):
                    outcome.written = self._write_events(
                        cur, decision, horizon, newest, rows, outcome.restaged
                    )
                else:
                    outcome.written = self._write(cur, decision, horizon, rows, outcome.restaged)
                self._run(
                    cur,
                    "speed_progress_update" if stored else "speed_progress_insert",
                    {
                        "query_id": query_id,
                        "batch_id": batch_id,
                        "now": datetime.now(UTC).replace(tzinfo=None),
                    },
                )
            self._record(cur, statuses)
            if decision == "take over":
                logger.info(
                    "speed layer: query %s (a fresh checkpoint) took the speed tables over",
                    query_id,
                )
            return outcome

        # Redshift aborts one of two transactions that cannot be serialised (ERROR 1023),
        # e.g. this one beside a batch cycle's publish: run it again whole.
        done = self.warehouse.run_transaction(work, what=f"speed batch {batch_id}")
        if done.written is None:
            return None
        # Only now, committed: a rolled-back run made no staging table and cut nothing.
        if done.restaged:
            self._staged_on, self._staged_uses = done.connection, 0
        self._staged_uses += 1
        self._cut_at = done.horizon
        return done.written, done.horizon

    def _staging_due(self, connection: object) -> bool:
        """Whether this micro-batch makes the staging tables (again): none in this
        connection's session yet, or they have served ``STAGING_REUSE`` micro-batches."""
        return connection is not self._staged_on or self._staged_uses >= STAGING_REUSE

    def _write(
        self,
        cur: Cursor,
        decision: Decision,
        horizon: datetime | None,
        rows: Mapping[str, Sequence[ViewRow]],
        restage: bool,
    ) -> int:
        """Every view's statements of one micro-batch given as view rows; the rows
        written."""
        written = 0
        for view in self.views:
            self._prepare(cur, view, decision, horizon, restage)
            # Hours before the horizon are the batch table's: never staged, so the MERGE
            # inserts no key there and the speed table holds none once cut.
            changes = [r for r in rows.get(view.name, ()) if horizon is None or r[0] >= horizon]
            if not changes:
                continue
            insert_values(cur, speed_insert(view, self.dialect), changes)
            _execute(cur, speed_merge(view, self.dialect))
            written += len(changes)
        return written

    def _prepare(
        self, cur: Cursor, view: View, decision: Decision, horizon: datetime | None, restage: bool
    ) -> None:
        """A view's statements before its rows: its staging table made (again) when due,
        its speed table emptied (a take-over) or cut at a horizon it has not been."""
        if restage:
            _execute(cur, speed_staging(view, self.dialect))
        if decision == "take over":
            _execute(cur, speed_clear(view, self.dialect))
        elif horizon is not None and horizon != self._cut_at:
            _execute(cur, speed_expire(view, self.dialect), {"horizon": horizon})

    def _write_events(
        self,
        cur: Cursor,
        decision: Decision,
        horizon: datetime | None,
        newest: datetime | None,
        events: StagedEvents,
        restage: bool,
    ) -> int:
        """One micro-batch given as its valid events: staged, de-duplicated against the
        micro-batch itself and the tweet ids seen before (``newest``: the newest event
        hour seen before it), every view's SELECT over them from the horizon on into its
        staging table, merged; the view rows written."""
        if restage:
            self._run(cur, "speed_events_staging")
        if decision == "take over":
            self._run(cur, "speed_seen_clear")
            newest = None
        for view in self.views:
            self._prepare(cur, view, decision, horizon, restage)
        if not len(events):
            return 0
        way = _staging_way(cur, self.dialect)
        for name, table, columns in (
            ("speed_events_insert", events.tweets, STAGED_COLUMNS),
            ("speed_hashtags_insert", events.hashtags, HASHTAG_COLUMNS),
        ):
            if way == "copy":
                self.warehouse.copy_from_stream(
                    cur, _STAGED[name], columns, io.BytesIO(csv_bytes(table))
                )
                continue
            (statement,) = statements(load_sql(name, self.dialect))
            if way == "literals":
                insert_literals(cur, statement, value_rows(table))
            else:
                insert_values(cur, statement, python_rows(table))
        watermark = newest - self.retention if newest is not None else None
        self._run(cur, "speed_dedup", {"watermark": watermark})
        seen = events.newest()
        if seen is not None and (newest is None or seen > newest):
            # The clock moves (once an hour at most): ids it makes late are forgotten.
            self._run(cur, "speed_clock_set", {"newest": seen, "forget": seen - 2 * self.retention})
        # Hours before the horizon are the batch table's: the relation leaves them out, so
        # the MERGE inserts no key there and the speed table holds none once cut.
        since = {"since": horizon if horizon is not None else BEGINNING}
        written = 0
        for view in self.views:
            for text in speed_aggregate(view, self.dialect):
                cur.execute(text, since)
                written += max(cur.rowcount, 0)
            _execute(cur, speed_merge(view, self.dialect))
        self._run(cur, "speed_events_clear")
        return written

    def _record(self, cur: Cursor, statuses: Sequence[BatchStatus]) -> None:
        """Keep micro-batches' statuses for ``make status`` (a replayed id's row replaced)."""
        latest = {s.batch_id: s for s in statuses}  # one row per id: the newest
        if not latest:
            return
        delete, insert = statements(load_sql("speed_batch_record", self.dialect))
        cur.execute(
            delete,
            {
                "batch_ids": tuple(latest),
                "finished_at": max(s.finished_at for s in latest.values()),
            },
        )
        insert_values(cur, insert, [astuple(s) for s in latest.values()])

    def record(self, statuses: Sequence[BatchStatus]) -> None:
        """Keep statuses no micro-batch carried (the stream went idle, or stops) in a
        transaction of their own."""
        if statuses:
            self.warehouse.run_transaction(
                lambda cur: self._record(cur, statuses), what="speed batch statuses"
            )


@dataclass
class _Outcome:
    """What one run of a micro-batch's transaction did (kept once it committed)."""

    connection: object
    horizon: datetime | None
    written: int | None = None  # None: skipped (a replay)
    restaged: bool = False


def _execute(cur: Cursor, texts: Sequence[str], params: dict[str, Any] | None = None) -> None:
    for text in texts:
        cur.execute(text, params)


# The session-private tables the events are staged in (speed_events_staging.sql).
_STAGED = {
    "speed_events_insert": "speed_staged_tweets",
    "speed_hashtags_insert": "speed_staged_hashtags",
}


def _staging_way(cur: Cursor, dialect: str) -> Literal["copy", "literals", "quoted"]:
    """How the events reach their staging tables: ``COPY FROM STDIN`` on PostgreSQL;
    elsewhere (Redshift: no COPY from the client) a multi-row INSERT, its literals built
    in Arrow when the session takes standard strings, else quoted by psycopg2."""
    if dialect == "postgres":
        return "copy"
    return "literals" if _standard_strings(cur) else "quoted"


def _standard_strings(cur: Cursor) -> bool:
    """Whether the session reads a backslash in a string literal as itself (then a
    literal needs only its quotes doubled: :func:`speed_layer.events.value_rows`)."""
    status = getattr(cur.connection, "get_parameter_status", None)
    return status is not None and status("standard_conforming_strings") == "on"


def insert_literals(
    cur: Cursor, statement: str, rows: Sequence[str], max_bytes: int = MAX_STATEMENT_BYTES
) -> int:
    """:func:`insert_values` with rows given as VALUES items already (``('…',…)``):
    one statement, or as few as keep each under ``max_bytes`` (sizes in characters,
    which UTF-8 at most quadruples: a page is cut at a quarter of the budget unless
    every row is ASCII)."""
    if not rows:
        return 0
    head, tail = statement.split("%s")
    sent, size = 0, len(head) + len(tail)
    page: list[str] = []
    for row in rows:
        length = len(row) if row.isascii() else 4 * len(row)
        if page and size + length + 1 > max_bytes:
            cur.execute(head + ",".join(page) + tail)
            sent, page, size = sent + 1, [], len(head) + len(tail)
        page.append(row)
        size += length + 1
    cur.execute(head + ",".join(page) + tail)
    return sent + 1


def insert_values(
    cur: Cursor,
    statement: str,
    rows: Sequence[Sequence[Any]],
    max_bytes: int = MAX_STATEMENT_BYTES,
) -> int:
    """Run ``statement`` (an INSERT whose one ``%s`` stands for a VALUES list) with ``rows``
    as literals: one statement, or as few as keep each under ``max_bytes``. Returns the
    statements run.

    What psycopg2's ``execute_values`` does, paged by size instead of by row count: a
    micro-batch's rows go in one statement whatever their number, up to the budget."""
    if not rows:
        return 0
    encoding = extensions.encodings[cur.connection.encoding]
    head, tail = statement.encode(encoding).split(b"%s")
    template = b"(" + b",".join([b"%s"] * len(rows[0])) + b")"
    sent = 0
    page: list[bytes] = []
    size = len(head) + len(tail)
    for row in rows:
        value = cur.mogrify(template, tuple(row))
        if page and size + len(value) + 1 > max_bytes:
            cur.execute(head + b",".join(page) + tail)
            sent += 1
            page, size = [], len(head) + len(tail)
        page.append(value)
        size += len(value) + 1
    if page:
        cur.execute(head + b",".join(page) + tail)
        sent += 1
    return sent
