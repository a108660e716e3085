"""What the dashboard's charts read from the warehouse, behind a small interface.

:class:`DashboardReads` is the interface; :class:`WarehouseReads` its real
implementation, which reads as ``QUERY_DSN``'s user in read-only transactions with a
statement timeout, every statement from a ``dashboard_*.sql`` file, over a small pool of
sessions (:mod:`serving_layer.dashboard.pool`). The unit tests use an in-memory
implementation of the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from lambda_common.errors import QueryError
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import View
from lambda_common.warehouse import Warehouse, one_line
from serving_layer.dashboard.pool import SessionPool, WarehouseBusy
from serving_layer.execute import read_only_transaction

STATEMENT_TIMEOUT_S = {"postgres": 5.0, "redshift": 15.0}
"""A chart's read that takes longer is cancelled and answered 503 "busy" (the page says so
and asks again at its next refresh). A read takes milliseconds unless something holds it
up, such as the lock a batch cycle takes on ``batch_horizon``; Redshift gets more room, as
its timeout counts compiling a new query and queueing in its workload manager too."""
CONNECT_TIMEOUT_S = 5
POOL_SIZE = 4
"""Sessions the chart reads share: a page reads 2 per view and 1 more per refresh."""
POOL_MAX_WAITING = 16
"""Reads that may wait for a session at once; one more is answered 503 at once."""
POOL_WAIT_S = 2.0
"""How long a read waits for a session before it is answered 503."""


class NotSetUp(QueryError):
    """The pipeline's tables and views do not exist yet (no ``make init`` or first cycle)."""


@dataclass(frozen=True)
class HourRow:
    """One hour of a serving view: its tweets, and the layer serving it."""

    hour: datetime
    tweets: int
    layer: str  # "batch" or "speed"


@dataclass(frozen=True)
class Hours:
    """A serving view's hours of a window, read in one snapshot with the horizon."""

    horizon: datetime | None
    rows: tuple[HourRow, ...]


@dataclass(frozen=True)
class KeyRow:
    """One key of a view (its values, in the view's key order) and its tweets."""

    key: tuple[Any, ...]
    tweets: int


@dataclass(frozen=True)
class Top:
    """The window's keys with the most tweets, and the window's total over every key."""

    total: int
    rows: tuple[KeyRow, ...]


@dataclass(frozen=True)
class MicroBatch:
    """One row of ``speed_batches``: a micro-batch of the speed layer."""

    batch_id: int
    finished_at: datetime
    duration_ms: int
    input_rows: int
    rejects: int
    max_event_time: datetime | None


class DashboardReads(Protocol):
    """The reads behind the charts (times are naive UTC, as the warehouse stores them)."""

    def hours(self, view: View, since: datetime) -> Hours:
        """Tweets per hour of ``view``'s serving view from ``since`` on, oldest first."""
        ...

    def top(self, view: View, since: datetime, limit: int) -> Top:
        """``view``'s ``limit`` keys with the most tweets from ``since`` on."""
        ...

    def speed_batches(self, limit: int) -> tuple[MicroBatch, ...]:
        """The speed layer's newest ``limit`` micro-batches, newest first."""
        ...


class WarehouseReads:
    """:class:`DashboardReads` against the warehouse, as the reader role.

    ``POOL_SIZE`` sessions, each opened on first use, lent one read at a time: reads held
    up by the warehouse wait a bounded time for a session, and a statement a bounded time
    for its answer, then fail with :class:`WarehouseBusy` (never a queue that grows).
    Raises ``ServiceUnavailable`` when the warehouse cannot be reached,
    :class:`WarehouseBusy` when it does not answer in time, :class:`NotSetUp` before the
    pipeline created (or granted) its relations, ``QueryError`` (one line) for anything
    else.
    """

    def __init__(self, settings: Settings) -> None:
        self._dialect = settings.warehouse_dialect
        self._timeout_s = STATEMENT_TIMEOUT_S[self._dialect]
        self._pool = SessionPool(
            lambda: Warehouse(settings, role="reader", connect_timeout_s=CONNECT_TIMEOUT_S),
            size=POOL_SIZE,
            max_waiting=POOL_MAX_WAITING,
            wait_s=POOL_WAIT_S,
        )

    def hours(self, view: View, since: datetime) -> Hours:
        rows = self._rows("dashboard_hours", {"since": since}, serving=view.serving_view)
        horizon = rows[0][0] if rows else None
        return Hours(
            horizon,
            tuple(
                HourRow(hour, int(tweets), str(layer))
                for _, hour, tweets, layer in rows
                if hour is not None
            ),
        )

    def top(self, view: View, since: datetime, limit: int) -> Top:
        keys = [k.name for k in view.keys]
        rows = self._rows(
            "dashboard_top", {"since": since, "limit": limit}, serving=view.serving_view, keys=keys
        )
        width = len(keys)
        total = int(rows[0][width + 1]) if rows else 0
        return Top(total, tuple(KeyRow(tuple(r[:width]), int(r[width])) for r in rows))

    def speed_batches(self, limit: int) -> tuple[MicroBatch, ...]:
        rows = self._rows("dashboard_speed_batches", {"limit": limit})
        return tuple(MicroBatch(int(b), f, int(d), int(i), int(r), m) for b, f, d, i, r, m in rows)

    def close(self) -> None:
        """Close the sessions' connections (at shut-down)."""
        self._pool.close()

    def _rows(
        self,
        name: str,
        params: dict[str, Any],
        *,
        serving: str | None = None,
        keys: list[str] | None = None,
    ) -> list[tuple[Any, ...]]:
        (text,) = statements(load_sql(name, self._dialect))
        statement: str | sql.Composable = text
        if serving is not None:
            # Names come from view definitions (VIEWS_DIR): always quoted, never formatted in.
            fill: dict[str, sql.Composable] = {"serving": sql.Identifier(serving)}
            if keys is not None:
                fill["keys"] = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
            statement = sql.SQL(text).format(**fill)
        with (
            self._pool.session() as warehouse,
            read_only_transaction(warehouse, timeout_s=self._timeout_s) as cur,
        ):
            try:
                cur.execute(statement, params)
            except psycopg2.extensions.QueryCanceledError as e:
                # Not an OperationalError to pass on: the session is sound, and raising
                # our own error rolls it back and keeps it for the next read.
                raise WarehouseBusy(
                    f"the warehouse is busy: dashboard read {name} did not finish within "
                    f"{self._timeout_s:g} s; try again shortly"
                ) from e
            except psycopg2.errors.UndefinedTable as e:
                raise NotSetUp(
                    "the pipeline's tables and views are not created yet (make init, or "
                    "the first batch cycle or speed job)"
                ) from e
            except psycopg2.errors.InsufficientPrivilege as e:
                # The reader is granted each relation when the pipeline ensures its schema:
                # a view added since is readable after the next make init or cycle.
                raise NotSetUp(
                    f"dashboard read {name}: QUERY_DSN's user may not read it yet (the "
                    "pipeline grants it when it ensures its schema: make init)"
                ) from e
            except psycopg2.OperationalError:
                raise  # the warehouse reports ServiceUnavailable
            except psycopg2.Error as e:
                raise QueryError(f"dashboard read {name} failed: {one_line(e)}") from e
            return list(cur.fetchall())
