"""What one speed micro-batch costs the warehouse, on a recording connection: one
transaction (one commit) and a fixed number of statements whatever its size (Redshift
queues commits and every statement has a cost of its own there), with the semantics kept:
increments added once, new keys only from the horizon on, older hours cut, a replay
skipped, a fresh checkpoint's first micro-batch emptying the speed tables."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg2
import pytest

from lambda_common.errors import ServiceUnavailable
from lambda_common.settings import load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import load_views
from lambda_common.warehouse import Warehouse
from speed_layer import sink as sink_module
from speed_layer.events import from_rows
from speed_layer.sink import SpeedSink
from speed_layer.stream import QUERY_NAME
from speed_layer.view import STAGING_REUSE, BatchStatus, SpeedView, ViewRow, insert_values
from tests.unit.fake_connection import FakeConnection, FakeCursor

DIALECTS = ("redshift", "postgres")
VIEWS = load_views()
HORIZON = datetime(2027, 1, 15, 6, 0)
STATE = {d: statements(load_sql("speed_progress_get", d))[0] for d in DIALECTS}

# What a steady micro-batch sends with every view's rows and one status row to carry: the
# lock, the read of speed_progress and the horizon, three a view (INSERT into its staging
# table, MERGE, DELETE the staged rows), speed_progress, the status (DELETE + INSERT).
STEADY = 2 + 3 * len(VIEWS) + 1 + 2


def _rows(n: int, hour: datetime = HORIZON) -> dict[str, list[ViewRow]]:
    """``n`` rows of every view shipped, each key once, at ``hour`` and after."""
    return {
        v.name: [(hour + timedelta(hours=i % 3), f"{v.name}-{i}", 1, 10, 2, 3) for i in range(n)]
        for v in VIEWS
    }


def _status(batch_id: int) -> BatchStatus:
    return BatchStatus(batch_id, 10, 1, 3, 500, HORIZON, datetime(2027, 1, 15, 9, batch_id % 60))


class _Connection(FakeConnection):
    def close(self) -> None:
        self.closed = True


class _Warehouse:
    """A SpeedView on a recording connection whose speed_progress answers with the last
    micro-batch recorded on it (``progress`` before any), and the horizon with
    ``horizon``."""

    def __init__(self, dialect: str, progress: tuple[str, int] | None = ("q", 0)) -> None:
        self.dialect = dialect
        self.progress = progress
        self.horizon: datetime | None = HORIZON
        self.conn = _Connection()
        self.conn.answers[STATE[dialect]] = lambda _: [
            (*self._recorded(), self.horizon, self._newest())
        ]
        self.warehouse = Warehouse(load_settings(warehouse_dialect=dialect))
        self.warehouse._conn = self.conn  # type: ignore[assignment]
        self.view = SpeedView(load_settings(warehouse_dialect=dialect), self.warehouse)

    def _newest(self) -> datetime | None:
        """The de-duplication's clock as the last micro-batch of events set it."""
        for _, params in reversed(self.conn.executed):
            if isinstance(params, dict) and "newest" in params:
                return params["newest"]  # type: ignore[no-any-return]
        return None

    def _recorded(self) -> tuple[str | None, int | None]:
        for _, params in reversed(self.conn.executed):
            if isinstance(params, dict) and "query_id" in params:
                return params["query_id"], params["batch_id"]
        return self.progress or (None, None)

    def batch(
        self, batch_id: int, rows: dict[str, list[ViewRow]], statuses: int = 1
    ) -> tuple[list[str], int, Any]:
        """Apply one micro-batch; (its statements, its commits, what apply returned)."""
        sent, commits = len(self.conn.executed), self.conn.commits
        result = self.view.apply(
            "q", batch_id, rows, [_status(batch_id - 1 - k) for k in range(statuses)]
        )
        return self.conn.statements[sent:], self.conn.commits - commits, result


@pytest.fixture(params=DIALECTS)
def steady(request: pytest.FixtureRequest) -> _Warehouse:
    """A SpeedView past its connection's first micro-batch (batch 1), on each dialect."""
    wh = _Warehouse(request.param)
    wh.batch(1, _rows(1))  # makes the staging tables, cuts at the horizon
    return wh


def _sql(statement: str) -> str:
    """The statement without its comment lines."""
    return "\n".join(ln for ln in statement.splitlines() if not ln.startswith("--")).strip()


def _kinds(sent: list[str]) -> list[str]:
    """Each statement's first word (LOCK, SELECT, MERGE, ...)."""
    return [_sql(s).split()[0] for s in sent]


def _carried(conn: FakeConnection) -> list[tuple[int, ...]]:
    """The batch ids of the status rows each transaction wrote, in order."""
    return [
        p["batch_ids"] for s, p in conn.executed if _sql(s).startswith("DELETE FROM speed_batches")
    ]


@pytest.mark.parametrize("n", [1, 5_000])
def test_a_micro_batch_is_one_commit_and_a_fixed_number_of_statements(
    steady: _Warehouse, n: int
) -> None:
    wh = steady
    sent, commits, result = wh.batch(2, _rows(n))
    assert (len(sent), commits) == (STEADY, 1)
    assert len(VIEWS) == 3 and STEADY == 14  # a change of either is a change of cost
    per_view = ["INSERT", "MERGE", "DELETE"] * len(VIEWS)
    assert _kinds(sent) == ["LOCK", "SELECT", *per_view, "UPDATE", "DELETE", "INSERT"]
    assert result == (n * len(VIEWS), HORIZON)
    assert wh.conn.rollbacks == 0


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_connections_first_micro_batch_makes_the_staging_tables_and_cuts_the_hours(
    dialect: str,
) -> None:
    wh = _Warehouse(dialect, progress=("q", 5))  # e.g. the job restarted
    sent, commits, _ = wh.batch(6, _rows(1))
    # Per view besides the three: DROP + CREATE its staging table, its hours before the
    # horizon deleted (this SpeedView has not cut at that horizon yet).
    assert (len(sent), commits) == (STEADY + 3 * len(VIEWS), 1)
    assert _kinds(sent)[2:5] == ["DROP", "CREATE", "DELETE"]
    assert _sql(sent[3]) == 'CREATE TEMP TABLE "staging_speed_view" (LIKE "speed_view")'
    assert _sql(sent[4]) == 'DELETE FROM "speed_view" WHERE event_hour < %(horizon)s'
    # Made once: the next micro-batches on the connection reuse them.
    assert len(wh.batch(7, _rows(1))[0]) == STEADY


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_first_micro_batch_ever_inserts_the_progress_row(dialect: str) -> None:
    wh = _Warehouse(dialect, progress=None)
    sent, commits, result = wh.batch(0, _rows(1), statuses=0)
    assert (commits, result) == (1, (3, HORIZON))
    assert _sql(sent[-1]).startswith("INSERT INTO speed_progress")
    assert _sql(wh.batch(1, _rows(1))[0][-3]).startswith("UPDATE speed_progress")


def test_a_moved_horizon_cuts_every_view_once(steady: _Warehouse) -> None:
    wh = steady
    wh.horizon = HORIZON + timedelta(hours=1)
    sent, commits, _ = wh.batch(2, _rows(1, wh.horizon))
    cuts = [s for s in sent if "WHERE event_hour <" in s]
    assert (len(cuts), len(sent), commits) == (len(VIEWS), STEADY + len(VIEWS), 1)
    assert wh.conn.executed[-len(sent) + 2][1] == {"horizon": wh.horizon}
    assert len(wh.batch(3, _rows(1, wh.horizon))[0]) == STEADY  # cut once


def test_rows_before_the_horizon_are_never_staged(steady: _Warehouse) -> None:
    wh = steady
    early = {"locations": [(HORIZON - timedelta(hours=1), "Paris", 5, 1, 1, 1)]}
    sent, commits, result = wh.batch(2, early)
    # Nothing to add: the views' statements are left out, the micro-batch still recorded.
    assert _kinds(sent) == ["LOCK", "SELECT", "UPDATE", "DELETE", "INSERT"]
    assert (commits, result) == (1, (0, HORIZON))
    both = {"locations": [*early["locations"], (HORIZON, "Oslo", 1, 1, 1, 1)]}
    sent = wh.batch(3, both)[0]
    (insert,) = [s for s in sent if _sql(s).startswith('INSERT INTO "staging_speed_view"')]
    assert "Oslo" in insert and "Paris" not in insert


def test_a_replayed_micro_batch_writes_nothing_but_the_statuses_it_carries(
    steady: _Warehouse,
) -> None:
    sent, commits, result = steady.batch(1, _rows(1))
    assert (result, commits) == (None, 1)
    assert _kinds(sent) == ["LOCK", "SELECT", "DELETE", "INSERT"]
    assert "speed_batches" in sent[-1]


def test_a_fresh_checkpoint_empties_every_speed_table_in_its_first_transaction(
    steady: _Warehouse,
) -> None:
    sent = len(steady.conn.executed)
    assert steady.view.apply("another query", 0, _rows(1)) == (3, HORIZON)
    took_over = [_sql(s) for s in steady.conn.statements[sent:]]
    emptied = [s for s in took_over if re.fullmatch(r'DELETE FROM "speed_\w+"', s)]
    assert len(emptied) == len(VIEWS) and steady.conn.commits == 2
    # Emptied before the micro-batch's rows go in, and not cut as well.
    assert took_over.index(emptied[0]) < next(i for i, s in enumerate(took_over) if "MERGE" in s)
    assert not any("WHERE event_hour <" in s for s in took_over)


def test_the_merge_adds_to_existing_keys_and_inserts_new_ones(steady: _Warehouse) -> None:
    sent = steady.batch(2, _rows(1))[0]
    merge = next(_sql(s) for s in sent if "MERGE INTO" in s)
    assert merge.startswith('MERGE INTO "speed_view"\nUSING "staging_speed_view" AS s')
    assert '"speed_view"."event_hour" = s."event_hour"' in merge
    assert '"speed_view"."location" = s."location"' in merge
    assert 'tweet_count = "speed_view".tweet_count + s.tweet_count' in merge
    assert "WHEN NOT MATCHED THEN INSERT" in merge


def test_the_staging_tables_are_made_again_after_serving_their_share() -> None:
    wh = _Warehouse("redshift")
    made = []
    for batch_id in range(1, 2 * STAGING_REUSE + 2):
        sent = wh.batch(batch_id, _rows(1))[0]
        made.append(sum(s.startswith("CREATE TEMP TABLE") for s in sent))
    assert made == ([3] + [0] * (STAGING_REUSE - 1)) * 2 + [3]


def test_a_new_connection_makes_its_own_staging_tables() -> None:
    wh = _Warehouse("redshift")
    wh.batch(1, _rows(1))
    wh.conn = _Connection(answers=dict(wh.conn.answers))
    wh.warehouse._conn = wh.conn  # type: ignore[assignment]  # e.g. after an outage
    sent = wh.batch(2, _rows(1))[0]
    assert sum(s.startswith("CREATE TEMP TABLE") for s in sent) == len(VIEWS)


class _AbortsOnce(_Connection):
    """Redshift's ERROR 1023 on the first MERGE: the transaction is run again whole."""

    def __init__(self) -> None:
        super().__init__()
        self.aborts = 1

    def cursor(self) -> FakeCursor:
        cursor = FakeCursor(self)
        execute = cursor.execute

        def aborting(statement: object, params: Any = None) -> None:
            if self.aborts and "MERGE INTO" in str(statement):
                self.aborts -= 1
                raise psycopg2.errors.lookup("40001")("could not serialize access")
            execute(statement, params)

        cursor.execute = aborting  # type: ignore[method-assign]
        return cursor


def test_a_transaction_aborted_mid_way_is_run_again_whole_with_its_staging_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)  # the retry's back-off
    wh = _Warehouse("redshift")
    aborting = _AbortsOnce()
    aborting.answers = wh.conn.answers
    wh.conn = aborting
    wh.warehouse._conn = aborting  # type: ignore[assignment]
    sent, commits, result = wh.batch(1, _rows(1))
    assert (aborting.rollbacks, commits, result) == (1, 1, (3, HORIZON))
    # The first run made the first view's staging table before the abort undid it: the
    # second run makes every view's again.
    assert sum(s.startswith("CREATE TEMP TABLE") for s in sent) == 1 + len(VIEWS)
    assert sum(s.startswith("CREATE TEMP TABLE") for s in wh.batch(2, _rows(1))[0]) == 0


def test_a_large_micro_batch_is_split_only_past_the_statement_budget() -> None:
    conn = FakeConnection()
    cur: Any = conn.cursor()
    rows = [(HORIZON, f"key-{i}", 1, 10, 2, 3) for i in range(1000)]
    assert insert_values(cur, "INSERT INTO t (a, b, c, d, e, f) VALUES %s", rows) == 1
    one = len(conn.statements[0])
    assert insert_values(cur, "INSERT INTO t VALUES %s", rows, max_bytes=one // 3) == 4
    assert all(len(s) <= one // 3 for s in conn.statements[1:])
    assert sum(s.count("key-") for s in conn.statements[1:]) == 1000
    assert insert_values(cur, "INSERT INTO t VALUES %s", []) == 0


# -- the status rows: carried by the next micro-batch's transaction --------------------------


class _Frame:
    def persist(self) -> None:
        pass

    def unpersist(self) -> None:
        pass


def _sink(monkeypatch: pytest.MonkeyPatch, dialect: str = "redshift") -> tuple[SpeedSink, Any]:
    events = from_rows([("1", HORIZON, "Oslo", "en", "u", 1, 2, 3, ["kafka"])])
    monkeypatch.setattr(sink_module, "collect_events", lambda frame: events)
    query = type("Q", (), {"name": QUERY_NAME, "id": "q"})()
    spark = type("S", (), {"streams": type("M", (), {"active": [query]})()})()
    wh = _Warehouse(dialect, progress=None)
    target = SpeedSink(load_settings(warehouse_dialect=dialect), stop=threading.Event())
    target.view = wh.view
    target.session = spark
    return target, wh


def test_a_micro_batchs_status_is_written_by_the_next_micro_batchs_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, wh = _sink(monkeypatch)
    target(_Frame(), 0)
    target.queue_status(_status(0))  # Spark's progress event, after the commit
    target(_Frame(), 1)
    assert _carried(wh.conn) == [(0,)]  # by batch 1's transaction (batch 0's had none)
    assert wh.conn.commits == 2  # one a micro-batch, the status included
    target.flush_statuses()  # nothing left to write: no transaction
    assert wh.conn.commits == 2


def test_an_idle_stream_writes_the_last_status_in_a_transaction_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, wh = _sink(monkeypatch)
    target(_Frame(), 0)
    target.queue_status(_status(0))
    sent = len(wh.conn.executed)
    target.flush_statuses()
    assert _kinds(wh.conn.statements[sent:]) == ["DELETE", "INSERT"]
    assert wh.conn.commits == 2
    target.flush_statuses()
    assert wh.conn.commits == 2  # written once


def test_a_flush_during_a_micro_batchs_write_leaves_the_statuses_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, wh = _sink(monkeypatch)
    target.queue_status(_status(7))
    with target._writing:  # a micro-batch being written (or waiting out an outage)
        target.flush_statuses()
    assert wh.conn.commits == 0
    target(_Frame(), 0)
    assert _carried(wh.conn) == [(7,)]


def test_statuses_a_failed_write_did_not_commit_wait_for_the_next_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, wh = _sink(monkeypatch)
    target.attempts = 1
    target.queue_status(_status(3))
    lock = statements(load_sql("speed_lock", "redshift"))[0]
    wh.conn.fail_on = (lock, psycopg2.OperationalError("server closed the connection"))
    with pytest.raises(ServiceUnavailable):
        target(_Frame(), 0)
    assert wh.warehouse._conn is None  # dropped: opened again on next use
    wh.conn.fail_on, wh.conn.closed = ("", None), False
    wh.warehouse._conn = wh.conn  # reopened
    target(_Frame(), 0)
    assert _carried(wh.conn) == [(3,)] and wh.conn.commits == 1
