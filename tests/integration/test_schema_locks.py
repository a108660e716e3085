"""``ensure_schema`` and a batch cycle never wait for readers, against the real database.

A BI tool that read ``serving_view`` inside a transaction and then went idle holds an
ACCESS SHARE lock on the view and its tables until it ends. ``CREATE OR REPLACE VIEW``
needs ACCESS EXCLUSIVE: it would wait for that reader, and every new reader would queue
behind it. These tests hold such a reader open and check that the schema check and a
whole batch cycle finish anyway, promptly; that a changed view definition is left for
later (a warning) instead of waited for; and that errors after which the whole
transaction can be run again reach the pipeline as ``TransientError``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg2
import psycopg2.extensions
import pytest

from batch_layer.cycle import run_cycle
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.errors import TransientError
from lambda_common.views import load_views
from lambda_common.views.sql import serving_ddl
from lambda_common.warehouse import VIEW_DDL_TIMEOUT_MS, Warehouse

from .helpers import Lane, send_raw

# Far above what the checks take here (well under a second for ensure_schema, a few
# seconds for a cycle), far below forever: the watchdog ends the reader after this, so a
# regression fails the test instead of hanging it.
WATCHDOG_S = 60.0


@pytest.fixture
def reader(lane: Lane) -> Iterator[psycopg2.extensions.connection]:
    """QUERY_DSN's user, inside a transaction that has read serving_view, left idle."""
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
    conn = psycopg2.connect(**lane.settings.query.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM serving_view")
        cur.fetchall()
    yield conn  # no commit: the transaction and its locks stay open
    conn.close()


class Watchdog:
    """Closes the reader's connection after ``WATCHDOG_S`` unless cancelled, which ends its
    session and so its locks: a check that waits for the reader then ends (and the test
    says it had to). From the client: the pipeline's role may not terminate the reader's
    backend."""

    def __init__(self, reader: psycopg2.extensions.connection) -> None:
        self.reader = reader
        self.fired = False
        self.timer = threading.Timer(WATCHDOG_S, self._fire)

    def _fire(self) -> None:
        self.fired = True
        self.reader.close()

    def __enter__(self) -> Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()


def _same_transaction_still_open(reader: psycopg2.extensions.connection) -> bool:
    """Whether the reader's transaction is the one opened before the checks: its start
    (now()) is earlier than this statement's (pg_stat_activity's state of another role's
    session is hidden from the pipeline's role, so the reader is asked itself)."""
    with reader.cursor() as cur:
        cur.execute("SELECT now() < statement_timestamp()")
        return bool(cur.fetchall()[0][0])


def _recorded_sha(lane: Lane) -> str | None:
    with Warehouse(lane.settings) as wh:
        rows = wh.query(
            "SELECT definition_sha FROM schema_objects WHERE object_name = 'serving_view'"
        )
    return str(rows[0][0]) if rows else None


CURRENT_SHA = hashlib.sha256(serving_ddl(load_views()[0], "postgres").encode("utf-8")).hexdigest()


def test_the_schema_check_and_a_batch_cycle_do_not_wait_for_an_idle_reader(
    lane: Lane, reader: psycopg2.extensions.connection
) -> None:
    now = datetime.now(UTC)
    options = SyntheticOptions(seed=5, count=300, start=now - timedelta(days=1), end=now)
    send_raw(
        lane.settings, [(e.tweet_id.encode(), e.to_json_bytes()) for e in SyntheticTweets(options)]
    )
    assert _recorded_sha(lane) == CURRENT_SHA
    with Watchdog(reader) as watchdog:
        started = time.monotonic()
        with Warehouse(lane.settings) as wh:
            wh.ensure_schema()
        schema_s = time.monotonic() - started
        started = time.monotonic()
        result = run_cycle(lane.settings)
        cycle_s = time.monotonic() - started
    assert not watchdog.fired, "waited for the reader until the watchdog ended it"
    assert schema_s < 5.0, f"ensure_schema took {schema_s:.1f}s"
    assert cycle_s < WATCHDOG_S / 2, f"the cycle took {cycle_s:.1f}s"
    assert result.loaded and result.events > 0
    # The reader was never waited out: it is still there, idle in its transaction.
    assert _same_transaction_still_open(reader)
    reader.rollback()
    with reader.cursor() as cur:  # and its grants are intact: it reads the new rows
        cur.execute("SELECT SUM(tweet_count) FROM serving_view")
        assert cur.fetchall()[0][0] > 0


def test_a_changed_view_held_by_a_reader_is_left_for_later_then_replaced(
    lane: Lane, reader: psycopg2.extensions.connection, caplog: pytest.LogCaptureFixture
) -> None:
    with Warehouse(lane.settings) as wh:
        wh.execute("UPDATE schema_objects SET definition_sha = 'an older definition'")
    timeout_s = VIEW_DDL_TIMEOUT_MS["postgres"] / 1000
    with Watchdog(reader) as watchdog, caplog.at_level(logging.WARNING):
        started = time.monotonic()
        with Warehouse(lane.settings) as wh:
            wh.ensure_schema()
        elapsed = time.monotonic() - started
    assert not watchdog.fired
    assert timeout_s <= elapsed < timeout_s + 5.0, f"ensure_schema took {elapsed:.1f}s"
    assert any(
        "serving_view's definition changed, but readers held the view" in r.getMessage()
        for r in caplog.records
    )
    assert _recorded_sha(lane) == "an older definition"  # rolled back with the DDL
    # Readers that came meanwhile are not left queued behind a DDL that gave up.
    other = psycopg2.connect(**lane.settings.query.connect_kwargs())
    try:
        with other.cursor() as cur:
            cur.execute("SET statement_timeout = 5000")
            cur.execute("SELECT COUNT(*) FROM serving_view")
    finally:
        other.close()
    # Once the reader is gone, the next check replaces the view and records it.
    reader.rollback()
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
    assert _recorded_sha(lane) == CURRENT_SHA


def test_a_dropped_view_is_created_again_and_granted(lane: Lane) -> None:
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
        wh.execute("DROP VIEW serving_view")
        wh.ensure_schema()
    conn = psycopg2.connect(**lane.settings.query.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM serving_view")
            assert cur.fetchall() == [(0,)]
    finally:
        conn.close()
    assert _recorded_sha(lane) == CURRENT_SHA


# Redshift's error 1023 as a real server sends it (SQLSTATE XX000, the code as message,
# the reason as DETAIL), raised by PostgreSQL itself.
_REDSHIFT_1023 = (
    "DO $$ BEGIN RAISE EXCEPTION '1023' USING ERRCODE = 'XX000', "
    "DETAIL = 'Serializable isolation violation on table - 100123, transactions forming "
    "the cycle are: 5001, 5002 (pid:1234)'; END $$"
)


def test_a_redshift_serializable_isolation_violation_is_transient(lane: Lane) -> None:
    with Warehouse(lane.settings) as wh:
        conn = wh.connection()
        with (
            pytest.raises(TransientError, match="1023 DETAIL: Serializable isolation"),
            wh.transaction() as cur,
        ):
            cur.execute(_REDSHIFT_1023)
        assert wh.query("SELECT 1") == [(1,)]
        assert wh.connection() is conn  # rolled back, not dropped: still usable


def test_a_deadlock_is_transient_and_the_whole_transaction_runs_again(lane: Lane) -> None:
    with Warehouse(lane.settings) as wh:
        wh.execute("CREATE TABLE deadlock_probe (id int PRIMARY KEY, n int)")
        wh.execute("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)")
    both_locked = threading.Barrier(2, timeout=30)
    outcomes: dict[str, object] = {}

    def bump(name: str, first: int, second: int) -> None:
        runs = 0

        def work(cur: psycopg2.extensions.cursor) -> int:
            nonlocal runs
            runs += 1
            cur.execute("UPDATE deadlock_probe SET n = n + 1 WHERE id = %s", (first,))
            if runs == 1:  # the first run of each side meets the other: a deadlock
                both_locked.wait()
            cur.execute("UPDATE deadlock_probe SET n = n + 1 WHERE id = %s", (second,))
            return runs

        try:
            with Warehouse(lane.settings) as wh:
                outcomes[name] = wh.run_transaction(work, what=f"deadlock probe {name}")
        except Exception as e:
            outcomes[name] = e

    threads = [
        threading.Thread(target=bump, args=("a", 1, 2)),
        threading.Thread(target=bump, args=("b", 2, 1)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # PostgreSQL aborted one side (40P01); it ran again whole and both committed.
    assert sorted(outcomes.values()) == [1, 2], outcomes  # type: ignore[type-var]
    with Warehouse(lane.settings) as wh:
        assert wh.query("SELECT id, n FROM deadlock_probe ORDER BY id") == [(1, 2), (2, 2)]
