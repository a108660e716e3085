"""``Warehouse.ensure_schema`` against a recording fake connection: which files run, in
which order, when the serving view's DDL runs (only when missing or changed, bounded by a
lock timeout), what happens to a warehouse whose sums are still bigint, and how
``transaction()`` reports errors the whole transaction can be retried after."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from lambda_common import retry
from lambda_common.errors import SchemaError, ServiceUnavailable, TransientError
from lambda_common.settings import load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import View, load_views
from lambda_common.views.sql import serving_ddl, table_ddl
from lambda_common.warehouse import (
    VIEW_DDL_TIMEOUT_MS,
    Warehouse,
    is_transient,
    one_line,
)
from tests.unit.fake_connection import FakeConnection, FakeCursor

pytestmark = pytest.mark.unit

OUTDATED = statements(load_sql("sum_columns_outdated", "postgres"))[0]
VIEW_PRESENT = statements(load_sql("view_present", "postgres"))[0]
VIEW_SHA = statements(load_sql("schema_object_sha", "postgres"))[0]
BIGINT_SUMS = [
    (table, column, "bigint")
    for table in ("batch_daily", "batch_view", "speed_view")
    for column in ("favorite_sum", "followers_sum", "retweet_sum")
]
LOCK = statements(load_sql("schema_lock", "postgres"))


VIEWS = load_views()


def _sha(dialect: str, view: View = VIEWS[0]) -> str:
    return hashlib.sha256(serving_ddl(view, dialect).encode("utf-8")).hexdigest()


def _shas(dialect: str) -> dict[str, str]:
    return {v.serving_view: _sha(dialect, v) for v in VIEWS}


def _warehouse(
    dialect: str,
    outdated: list[tuple[str, str, str]],
    *,
    view: bool = False,
    recorded: str | dict[str, str] | None = None,
    conn: FakeConnection | None = None,
) -> tuple[Warehouse, Any]:
    """A warehouse on a fake connection: ``view`` whether the serving views exist,
    ``recorded`` the SHA schema_objects holds for each (one for all, or by name)."""
    warehouse = Warehouse(load_settings(warehouse_dialect=dialect))
    conn = conn or FakeConnection()
    conn.answers.update(
        {
            OUTDATED: list(outdated),
            VIEW_PRESENT: [(1 if view else 0,)],
            VIEW_SHA: lambda p: (
                [(recorded.get(p["name"]) if isinstance(recorded, dict) else recorded,)]
                if recorded
                else []
            ),
        }
    )
    warehouse._conn = conn  # type: ignore[assignment]
    return warehouse, conn


def _files(dialect: str, *names: str) -> list[str]:
    return [s for name in names for s in statements(load_sql(name, dialect))]


def _lock(dialect: str) -> list[str]:
    return LOCK if dialect == "postgres" else []


def _head(dialect: str, *after: str) -> list[str]:
    """The schema transaction up to the serving views: the tables (each view's derived
    from its definition), the columns check, then ``after``."""
    tables = [s for v in VIEWS for s in table_ddl(v, dialect)]
    return (
        _lock(dialect)
        + _files(dialect, "schema", "column_present", "column_present")
        + _files(
            dialect, "raw_hashtags_event_hour" if dialect == "postgres" else "raw_tweet_ids_empty"
        )
        + tables
        + _files(dialect, "sum_columns_outdated", *after)
    )


def _views(dialect: str, *, create: bool) -> list[str]:
    """Each serving view's check, and its DDL and record when ``create``."""
    out: list[str] = []
    for v in VIEWS:
        out += _files(dialect, "view_present", "schema_object_sha")
        if create:
            out += [serving_ddl(v, dialect), *_files(dialect, "schema_object_record")]
    return out


# -- ensure_schema: the tables, the view only when needed --------------------------------


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_a_new_warehouse_gets_tables_view_and_grants_in_one_transaction(dialect: str) -> None:
    warehouse, conn = _warehouse(dialect, [])
    warehouse.ensure_schema()
    # Missing views are created without a lock timeout (nobody can read them).
    files = _head(dialect) + _views(dialect, create=True) + _files(dialect, "reader_role")
    assert conn.statements == files
    assert (conn.commits, conn.rollbacks) == (1, 0)
    record = _files(dialect, "schema_object_record")[-1]
    records = [p for s, p in conn.executed if s == record]
    assert records == [{"name": name, "sha": sha} for name, sha in _shas(dialect).items()]


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_the_views_ddl_is_skipped_when_its_recorded_sha_matches(dialect: str) -> None:
    warehouse, conn = _warehouse(dialect, [], view=True, recorded=_shas(dialect))
    warehouse.ensure_schema()
    files = _head(dialect) + _views(dialect, create=False)
    assert conn.statements == files + _files(dialect, "reader_role")
    view_ddl = {serving_ddl(v, dialect) for v in VIEWS}
    assert not view_ddl & set(conn.statements)
    assert (conn.commits, conn.rollbacks) == (1, 0)


@pytest.mark.parametrize("recorded", ["0" * 64, None])
@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_a_changed_view_is_replaced_in_its_own_transaction_with_a_lock_timeout(
    dialect: str, recorded: str | None
) -> None:
    # Only serving_view changed; the others are up to date.
    shas = _shas(dialect)
    shas["serving_view"] = recorded  # type: ignore[assignment]
    warehouse, conn = _warehouse(dialect, [], view=True, recorded=shas)
    warehouse.ensure_schema()
    first = _head(dialect) + _views(dialect, create=False) + _files(dialect, "reader_role")
    second = _files(dialect, "view_present", "schema_object_sha", "view_ddl_timeout")
    # Dropped and created again (Redshift's CREATE OR REPLACE keeps column types), then
    # the reader's grants, all in the one transaction.
    second += ['DROP VIEW "serving_view"', serving_ddl(VIEWS[0], dialect)]
    second += _files(dialect, "view_ddl_timeout_end", "schema_object_record", "reader_role")
    assert [_code(s) for s in conn.statements] == [
        _code(s) for s in first + _lock(dialect) + second
    ]
    assert (conn.commits, conn.rollbacks) == (2, 0)
    timeout = next(p for s, p in conn.executed if s in _files(dialect, "view_ddl_timeout"))
    assert timeout == {"ms": VIEW_DDL_TIMEOUT_MS[dialect]}
    assert conn.executed[-2][1] == {"name": "serving_view", "sha": _sha(dialect)}


def _code(statement: str) -> str:
    """A statement without its comment lines."""
    return " ".join(line for line in statement.splitlines() if not line.startswith("--"))


def _sql_only(dialect: str, name: str) -> list[str]:
    return [
        " ".join(line for line in s.splitlines() if not line.startswith("--"))
        for s in _files(dialect, name)
    ]


def test_the_timeouts_are_postgres_lock_timeout_and_redshift_statement_timeout() -> None:
    assert _sql_only("postgres", "view_ddl_timeout") == ["SET LOCAL lock_timeout TO %(ms)s"]
    assert _sql_only("postgres", "view_ddl_timeout_end") == ["SET LOCAL lock_timeout TO DEFAULT"]
    assert _sql_only("redshift", "view_ddl_timeout") == ["SET LOCAL statement_timeout TO %(ms)s"]
    assert _sql_only("redshift", "view_ddl_timeout_end") == [
        "SET LOCAL statement_timeout TO DEFAULT"
    ]
    # The bound value is the only placeholder: the comments hold none psycopg2 would fill.
    for dialect in ("postgres", "redshift"):
        assert load_sql("view_ddl_timeout", dialect).count("%(") == 1


@pytest.mark.parametrize(
    ("dialect", "timeout"),
    [
        ("postgres", psycopg2.errors.LockNotAvailable("canceling statement due to lock timeout")),
        ("redshift", psycopg2.errors.QueryCanceled("Query (150) canceled on user's request")),
    ],
)
def test_a_view_held_by_readers_past_the_timeout_is_a_warning_not_a_failure(
    dialect: str, timeout: psycopg2.Error, caplog: pytest.LogCaptureFixture
) -> None:
    shas = _shas(dialect)
    shas["serving_view"] = "0" * 64
    warehouse, conn = _warehouse(dialect, [], view=True, recorded=shas)
    ddl = serving_ddl(VIEWS[0], dialect)
    conn.fail_on = (ddl, timeout)
    with caplog.at_level(logging.WARNING, logger="lambda_common.warehouse"):
        warehouse.ensure_schema()
    # The tables and grants committed; the view's transaction rolled back, nothing recorded.
    assert (conn.commits, conn.rollbacks) == (1, 1)
    assert conn.statements[-1] == ddl
    assert warehouse._conn is conn  # the connection is fine: kept
    (warning,) = [r for r in caplog.records if "serving_view's definition" in r.message]
    assert warning.levelno == logging.WARNING
    assert "serving_view's definition changed, but readers held the view" in warning.message
    assert "the old one stays until the next schema check" in warning.message


def test_bigint_sums_are_widened_on_postgres_before_the_view_is_made_again() -> None:
    warehouse, conn = _warehouse("postgres", BIGINT_SUMS, view=False, recorded=_shas("postgres"))
    warehouse.ensure_schema()
    files = _head("postgres", "sum_columns_migrate") + _views("postgres", create=True)
    assert conn.statements == files + _files("postgres", "reader_role")
    assert (conn.commits, conn.rollbacks) == (1, 0)


def test_bigint_sums_stop_a_redshift_start_with_one_line_saying_what_to_do() -> None:
    warehouse, conn = _warehouse("redshift", BIGINT_SUMS[3:])
    with pytest.raises(SchemaError) as info:
        warehouse.ensure_schema()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("warehouse tables batch_view, speed_view hold the sums as bigint")
    assert "DROP TABLE batch_view, batch_daily, speed_view;" in message
    assert "make recompute" in message and "SPEED_CHECKPOINT" in message
    # Nothing was altered or recreated, and the transaction was rolled back.
    view_ddl = {serving_ddl(v, "redshift") for v in VIEWS}
    assert not any(s.startswith("ALTER") or s in view_ddl for s in conn.statements)
    assert (conn.commits, conn.rollbacks) == (0, 1)


def test_a_refused_alter_on_postgres_is_one_line_and_rolls_back() -> None:
    warehouse, conn = _warehouse("postgres", BIGINT_SUMS)
    conn.fail_on = ("ALTER TABLE", psycopg2.errors.FeatureNotSupported())
    with pytest.raises(SchemaError, match="could not widen the sums of batch_daily, batch_view"):
        warehouse.ensure_schema()
    assert (conn.commits, conn.rollbacks) == (0, 1)


# -- transaction(): errors after which the whole transaction is run again ----------------


class _Coded(psycopg2.InternalError):
    """An error as the server sends it: psycopg2's ``pgcode`` is read-only on instances,
    so a subclass sets it (what Redshift's error 1023 arrives as: SQLSTATE XX000)."""

    pgcode = "XX000"


REDSHIFT_1023 = (
    "1023\nDETAIL:  Serializable isolation violation on table - 100123, transactions "
    "forming the cycle are: 5001, 5002 (pid:1234)\n"
)

TRANSIENT = [
    psycopg2.errors.lookup("40001")("could not serialize access due to concurrent update"),
    psycopg2.errors.lookup("40P01")("deadlock detected\nDETAIL:  Process 1 waits for ..."),
    psycopg2.errors.lookup("XX000")(REDSHIFT_1023),
    _Coded(REDSHIFT_1023),
    _Coded("ERROR: 1023 DETAIL: Serializable isolation violation on table"),
]
NOT_TRANSIENT = [
    psycopg2.errors.lookup("XX000")("Load into table 'staging_tweets' failed"),
    _Coded("invalid value 10234 in column"),
    psycopg2.errors.lookup("23505")("duplicate key value violates unique constraint"),
    psycopg2.errors.lookup("55P03")("canceling statement due to lock timeout"),
    psycopg2.OperationalError("server closed the connection unexpectedly"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_serialization_failures_deadlocks_and_redshift_1023_are_transient(
    error: psycopg2.Error,
) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", NOT_TRANSIENT, ids=lambda e: type(e).__name__)
def test_other_errors_are_not_transient(error: psycopg2.Error) -> None:
    assert not is_transient(error)


def test_a_subclass_sets_the_servers_code() -> None:
    assert _Coded("x").pgcode == "XX000"
    assert psycopg2.errors.lookup("40001")("x").pgcode is None  # made here, not received


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_a_transient_error_rolls_back_keeps_the_connection_and_is_one_line(
    error: psycopg2.Error,
) -> None:
    warehouse, conn = _warehouse("redshift", [])
    conn.fail_on = ("UPDATE", error)
    with pytest.raises(TransientError) as info, warehouse.transaction() as cur:
        cur.execute("UPDATE batch_horizon SET horizon = NULL")
    assert isinstance(info.value, ServiceUnavailable)  # the scheduler retries those too
    assert info.value.__cause__ is error
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith("warehouse at postgresql://lambda:***@")
    assert "transaction aborted by a concurrent one" in message
    assert warehouse.settings.warehouse.password not in message
    assert (conn.rollbacks, warehouse._conn) == (1, conn)


def test_redshifts_1023_reads_as_its_code_and_detail() -> None:
    assert one_line(psycopg2.errors.lookup("XX000")(REDSHIFT_1023)) == (
        "1023 DETAIL: Serializable isolation violation on table - 100123, transactions "
        "forming the cycle are: 5001, 5002 (pid:1234)"
    )
    assert one_line(psycopg2.OperationalError("a\n\tb\n")) == "a"
    assert one_line(psycopg2.OperationalError("")) == "OperationalError"


class _Closable(FakeConnection):
    def close(self) -> None:
        self.closed = True


def test_a_lost_connection_is_still_service_unavailable_and_dropped() -> None:
    warehouse, conn = _warehouse("postgres", [], conn=_Closable())
    error = psycopg2.OperationalError(
        "server closed the connection unexpectedly\n\tThis probably means the server ..."
    )
    conn.fail_on = ("SELECT", error)
    with pytest.raises(ServiceUnavailable) as info, warehouse.transaction() as cur:
        cur.execute("SELECT 1")
    assert not isinstance(info.value, TransientError)
    assert str(info.value).endswith(": server closed the connection unexpectedly")
    assert (conn.rollbacks, conn.closed, warehouse._conn) == (0, True, None)


def test_any_other_database_error_rolls_back_and_is_raised_unchanged() -> None:
    warehouse, conn = _warehouse("redshift", [])
    error = psycopg2.errors.lookup("XX000")("Load into table 'staging_tweets' failed")
    conn.fail_on = ("COPY", error)
    with pytest.raises(psycopg2.errors.InternalError_) as info, warehouse.transaction() as cur:
        cur.execute("COPY staging_tweets FROM 's3://x'")
    assert info.value is error
    assert (conn.rollbacks, warehouse._conn) == (1, conn)


class _FlakyConnection(FakeConnection):
    """Raises ``error`` for the first ``times`` statements starting with ``prefix``."""

    def __init__(self, prefix: str, error: psycopg2.Error, times: int) -> None:
        super().__init__()
        self.flaky = (prefix, error)
        self.times = times

    def cursor(self) -> FakeCursor:
        cursor = FakeCursor(self)
        execute = cursor.execute

        def flaky(statement: object, params: Any = None) -> None:
            prefix, error = self.flaky
            if self.times and str(statement).startswith(prefix):
                self.times -= 1
                self.executed.append((str(statement), params))
                raise error
            execute(statement, params)

        cursor.execute = flaky  # type: ignore[method-assign]
        return cursor


@pytest.fixture
def no_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry waits, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", waits.append)
    return waits


def test_ensure_schema_runs_again_whole_after_a_concurrent_start_aborted_it(
    no_waits: list[float],
) -> None:
    (create,) = _files("redshift", "schema")[:1]
    conn = _FlakyConnection(create, psycopg2.errors.lookup("XX000")(REDSHIFT_1023), times=2)
    warehouse, _ = _warehouse("redshift", [], view=True, recorded=_shas("redshift"), conn=conn)
    warehouse.ensure_schema()
    assert (conn.commits, conn.rollbacks) == (1, 2)
    assert len(no_waits) == 2 and all(0 < w <= 5.0 for w in no_waits)
    assert conn.statements.count(create) == 3


def test_run_transaction_retries_the_whole_work_then_gives_up(no_waits: list[float]) -> None:
    conn = _FlakyConnection("INSERT", psycopg2.errors.lookup("40001")("conflict"), times=99)
    warehouse, _ = _warehouse("postgres", [], conn=conn)
    runs: list[int] = []

    def work(cur: Any) -> int:
        runs.append(1)
        cur.execute("DELETE FROM speed_view")
        cur.execute("INSERT INTO speed_view VALUES (1)")
        return len(runs)

    with pytest.raises(TransientError):
        warehouse.run_transaction(work, what="speed batch 7", attempts=3)
    assert (len(runs), conn.commits, conn.rollbacks, len(no_waits)) == (3, 0, 3, 2)
    conn.times = 1
    assert warehouse.run_transaction(work, what="speed batch 8") == 5
    assert conn.commits == 1


# -- the schema lock: one QUERY_DSN's user cannot take (security finding 2) -----------------


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_ensure_schema_takes_no_advisory_lock(dialect: str) -> None:
    """Any role may hold any advisory key for as long as it likes: a reader that held the
    old schema key stalled every batch cycle and speed start. No statement ensure_schema
    sends may take one (nor replacing a changed view, which locks again)."""
    shas = _shas(dialect)
    shas["serving_view"] = "0" * 64
    warehouse, conn = _warehouse(dialect, [], view=True, recorded=shas)
    warehouse.ensure_schema()
    assert conn.commits == 2  # the schema, then the changed view in its own transaction
    code = [_code(s) for s in conn.statements]
    assert code and not [s for s in code if "advisory" in s.lower()]


def test_the_schema_lock_is_a_table_lock_no_reader_can_take() -> None:
    create, lock = (_sql_only("postgres", "schema_lock")[i].strip() for i in (0, 1))
    assert create.startswith("CREATE TABLE IF NOT EXISTS schema_lock (")
    # EXCLUSIVE conflicts with every mode but ACCESS SHARE, the only one SELECT allows.
    assert lock == "LOCK TABLE schema_lock IN EXCLUSIVE MODE"
    grants = " ".join(
        _sql_only("postgres", "reader_grants") + _sql_only("postgres", "view_reader_grants")
    )
    assert "schema_lock" not in grants


def test_two_first_starts_at_once_run_the_loser_again(no_waits: list[float]) -> None:
    """Both create schema_lock before either holds it: the second gets a unique
    violation once the first commits, and runs its whole transaction again."""
    (create, _) = LOCK
    duplicate = psycopg2.errors.lookup("23505")("duplicate key value violates unique constraint")
    conn = _FlakyConnection(create, duplicate, times=1)
    warehouse, _ = _warehouse("postgres", [], view=True, recorded=_shas("postgres"), conn=conn)
    warehouse.ensure_schema()
    assert (conn.commits, conn.rollbacks, len(no_waits)) == (1, 1, 1)
    assert conn.statements.count(create) == 2
