"""``make verify``'s reads of the warehouse, as QUERY_DSN's reader, and its record of the
run, as the pipeline's writer.

Everything is read in one read-only transaction at ``REPEATABLE READ`` (a snapshot on
PostgreSQL; Redshift's transactions are snapshots anyway), so the horizon, the load
ledger and every batch table agree: a batch cycle publishes all of them in one
transaction, and one that commits meanwhile is not half seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from batch_layer.lake.compare import Counts, Key, Measures
from lambda_common.errors import QueryError
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import View
from lambda_common.views.sql import batch_rows
from lambda_common.warehouse import Cursor, Warehouse, one_line

logger = logging.getLogger(__name__)

STATEMENT_TIMEOUT_S = 3600
"""The longest one read of the warehouse may take (a whole batch table, on a long run)."""


@dataclass
class Snapshot:
    """What the warehouse holds, as of one moment."""

    horizon: datetime | None
    until: datetime
    """The end of the hours checked: the horizon (or the end of the days asked for, if
    earlier); the start of them before any horizon, so no hour is checked then."""
    ledger: dict[str, Counts] = field(default_factory=dict)
    """Every object the load ledger records (all topics) -> what it held when loaded."""
    topics: set[str] = field(default_factory=set)
    batch: dict[str, dict[Key, Measures]] = field(default_factory=dict)
    """View name -> its batch table's rows of the hours read: keys -> measures."""


def _one(cur: Cursor, name: str, dialect: str, params: dict[str, Any] | None = None) -> None:
    (statement,) = statements(load_sql(name, dialect))
    cur.execute(statement, params)


def read_snapshot(
    settings: Settings, views: tuple[View, ...], since: datetime, until: datetime
) -> Snapshot:
    """The horizon, the ledger, and each view's batch rows of the hours ``since <=
    event_hour < Snapshot.until``, read in one snapshot as QUERY_DSN's reader."""
    with Warehouse(settings, role="reader") as wh:
        conn = wh.connection()
        conn.set_session(
            isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True
        )
        try:
            with wh.transaction() as cur:
                # The statement timeout of every read-only reader of the pipeline.
                for statement in statements(load_sql("query_transaction", wh.dialect)):
                    cur.execute(statement, {"ms": STATEMENT_TIMEOUT_S * 1000})
                return _read(cur, wh.dialect, views, since, until)
        except psycopg2.errors.UndefinedTable as e:
            raise QueryError(
                f"the warehouse lacks the pipeline's tables ({one_line(e)}): run a batch "
                "cycle first (make batch-once)"
            ) from e
        except psycopg2.OperationalError:
            raise  # the connection failed: the warehouse reports ServiceUnavailable
        except psycopg2.Error as e:
            raise QueryError(f"reading the warehouse failed: {one_line(e)}") from e


def _read(
    cur: Cursor, dialect: str, views: tuple[View, ...], since: datetime, until: datetime
) -> Snapshot:
    _one(cur, "horizon_get", dialect)
    row = cur.fetchone()
    horizon = row[0] if row else None
    # Batch tables hold the hours before the horizon only (none before the first cycle).
    snapshot = Snapshot(horizon, since if horizon is None else min(until, horizon))
    _one(cur, "verify_ledger", dialect)
    for key, topic, events, rejects in cur.fetchall():
        snapshot.ledger[str(key)] = Counts(int(events), int(rejects))
        snapshot.topics.add(str(topic))
    for view in views:
        rows: dict[Key, Measures] = {}
        if since < snapshot.until:
            cur.execute(batch_rows(view, dialect), {"since": since, "until": snapshot.until})
            width = len(view.key_columns)
            rows = {tuple(r[:width]): tuple(r[width:]) for r in cur.fetchall()}
        snapshot.batch[view.name] = rows
    return snapshot


@dataclass(frozen=True)
class Run:
    """One run of ``make verify``, as recorded for the dashboard and ``make status``."""

    topic: str
    finished_at: datetime
    ok: bool
    views: int
    rows: int
    events: int
    duration_s: float
    failed: str
    """The first FAIL line ('' when OK), cut to fit its column."""


def record_run(settings: Settings, run: Run) -> None:
    """Keep ``run`` as the topic's last run (``verify_runs``), as the pipeline's writer
    (the tables are ensured first, as every writer of the pipeline does)."""
    with Warehouse(settings) as wh:
        wh.ensure_schema()
        params = {
            "topic": run.topic,
            "finished_at": run.finished_at,
            "ok": run.ok,
            "views": run.views,
            "rows": run.rows,
            "events": run.events,
            "duration_s": run.duration_s,
            "failed": run.failed[:1000],
        }

        def work(cur: Cursor) -> None:
            for statement in statements(load_sql("verify_record", wh.dialect)):
                cur.execute(statement, params)

        wh.run_transaction(work, what="recording the verify run")
