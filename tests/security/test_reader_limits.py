"""What QUERY_DSN's reader can hold of the warehouse, on the real PostgreSQL (security
findings 2 and 3).

Reported: a reader holding ``pg_advisory_lock`` on the pipeline's fixed schema key
stalled every batch cycle and speed start (``ensure_schema`` waited on it without a
timeout); 97 reader connections left the pipeline "remaining connection slots are
reserved"; ``ALTER ROLE ... IN DATABASE ... SET search_path = nowhere``, which any role
may do to itself, survived a re-run of the set-up (``RESET ALL`` leaves per-database
settings) and made the dashboard report "not set up"; and the reader could connect to
the ``postgres`` database and create temporary tables and large objects there.

The role tests use a reader of their own (``private_reader``), set up by the local
stack's own code, so that using up or breaking it disturbs no other test.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest
from psycopg2 import sql

from batch_layer.cycle import run_cycle
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.errors import StackError
from lambda_common.warehouse import Warehouse
from local_stack.postgres import PostgresService
from serving_layer import status
from tests.integration.helpers import Lane, run_module, send_raw

from .conftest import CONNECTION_LIMIT, STATEMENT_TIMEOUT_S, PrivateReader

# The advisory key the pipeline's schema check used to wait on ("lambda"): a reader that
# takes it, and everything else it may lock, must no longer hold the writer up.
OLD_SCHEMA_KEY = 0x6C616D626461
# The schema check takes well under a second here, a cycle of 200 events a few seconds
# (more on a loaded machine); waiting for the reader would be forever.
SCHEMA_BOUND_S, CYCLE_BOUND_S = 10.0, 60.0


# -- the writer is never stalled by a reader ---------------------------------------------


SCHEMA_LOCK_MODES = ("ACCESS SHARE", "ROW SHARE", "EXCLUSIVE", "ACCESS EXCLUSIVE")


@pytest.fixture
def greedy_reader(lane: Lane) -> Iterator[psycopg2.extensions.connection]:
    """QUERY_DSN's user holding every lock it can: the old schema key (session and
    transaction), ACCESS SHARE on everything it may read, and whatever it gets of
    schema_lock (nothing: test_the_reader_may_not_lock_schema_lock); its transaction
    left open. The session ends itself after 3 minutes idle, whatever becomes of the test:
    a lock leaked here would stall every other user of the stack."""
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
    conn = psycopg2.connect(**lane.settings.query.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SET idle_in_transaction_session_timeout = '180s'")
            cur.execute("SET idle_session_timeout = '180s'")
            for relation in status.relations(lane.settings.views):
                cur.execute(
                    sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(sql.Identifier(relation))
                )
            for mode in SCHEMA_LOCK_MODES:
                cur.execute("SAVEPOINT attempt")
                with contextlib.suppress(psycopg2.Error):
                    cur.execute(f"LOCK TABLE schema_lock IN {mode} MODE")
                cur.execute("ROLLBACK TO SAVEPOINT attempt")
            cur.execute("SELECT pg_advisory_lock(%s)", (OLD_SCHEMA_KEY,))
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (OLD_SCHEMA_KEY,))
        yield conn  # no commit: the transaction and every lock stay
    finally:
        conn.close()


@pytest.mark.parametrize("mode", SCHEMA_LOCK_MODES)
def test_the_reader_may_not_lock_schema_lock(lane: Lane, mode: str) -> None:
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
    with (
        contextlib.closing(psycopg2.connect(**lane.settings.query.connect_kwargs())) as conn,
        conn.cursor() as cur,
        pytest.raises(psycopg2.errors.InsufficientPrivilege),
    ):
        cur.execute(f"LOCK TABLE schema_lock IN {mode} MODE")


def _bounded(work: object, reader: psycopg2.extensions.connection, bound_s: float) -> float:
    """Run ``work()`` in a thread; if it has not finished after ``bound_s``, close the
    reader (its locks go with its session) so the thread ends, and fail. Returns the
    seconds it took."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as e:  # reported in the test's thread
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(bound_s)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        reader.close()
        thread.join(60)
        pytest.fail(f"waited for the reader's locks for more than {bound_s:.0f} s")
    if errors:
        raise errors[0]
    return elapsed


def test_a_reader_holding_every_lock_it_can_does_not_stall_the_schema_check_or_a_cycle(
    lane: Lane, greedy_reader: psycopg2.extensions.connection
) -> None:
    now = datetime.now(UTC)
    options = SyntheticOptions(seed=11, count=200, start=now - timedelta(hours=3), end=now)
    send_raw(
        lane.settings, [(e.tweet_id.encode(), e.to_json_bytes()) for e in SyntheticTweets(options)]
    )

    def check() -> None:
        with Warehouse(lane.settings) as wh:
            wh.ensure_schema()

    assert _bounded(check, greedy_reader, SCHEMA_BOUND_S) < SCHEMA_BOUND_S
    _bounded(lambda: run_cycle(lane.settings), greedy_reader, CYCLE_BOUND_S)
    with greedy_reader.cursor() as cur:  # the reader was never waited out either
        cur.execute("SELECT now() < statement_timestamp()")
        assert cur.fetchall() == [(True,)]


def test_two_first_schema_checks_at_once_both_succeed(lane: Lane) -> None:
    """schema_lock does not exist before the first check: two at once both create it,
    one waits for the other's commit, fails on the duplicate and runs again."""
    ready = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with Warehouse(lane.settings) as wh:
                wh.connection()
                ready.wait()
                wh.ensure_schema()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    with Warehouse(lane.settings) as wh:
        assert wh.query("SELECT COUNT(*) FROM schema_lock") == [(0,)]


# -- the reader role: a connection limit, a statement timeout -------------------------------


def test_the_reader_has_a_connection_limit_and_the_pipeline_still_connects(
    private_reader: PrivateReader,
) -> None:
    with contextlib.ExitStack() as held:
        for _ in range(CONNECTION_LIMIT):
            held.enter_context(contextlib.closing(private_reader.connect()))
        with pytest.raises(psycopg2.OperationalError, match="too many connections for role"):
            private_reader.connect()
        # The pipeline's role is not counted against the reader's limit.
        with Warehouse(private_reader.settings) as wh:
            assert wh.query("SELECT 1") == [(1,)]
    with contextlib.closing(private_reader.admin()) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (private_reader.user,))
        assert cur.fetchall() == [(CONNECTION_LIMIT,)]


def test_a_reader_session_starts_with_the_roles_statement_timeout(
    private_reader: PrivateReader,
) -> None:
    assert private_reader.settings_rows() == [
        ("", [f"statement_timeout={STATEMENT_TIMEOUT_S * 1000}"])
    ]
    with contextlib.closing(private_reader.connect()) as conn, conn.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchall() == [(f"{STATEMENT_TIMEOUT_S}s",)]
        with pytest.raises(psycopg2.errors.QueryCanceled):
            cur.execute("SELECT pg_sleep(%s)", (STATEMENT_TIMEOUT_S + 3,))


def test_a_connection_limit_over_half_the_server_is_refused_naming_the_setting(
    private_reader: PrivateReader,
) -> None:
    settings = private_reader.settings.model_copy(update={"query_connection_limit": 60})
    service = PostgresService(settings, private_reader.service.stack_dir)
    with pytest.raises(StackError, match=r"QUERY_CONNECTION_LIMIT=60 .* give at most \d+"):
        service.after_healthy()


# -- what the reader sets for itself does not outlive the set-up ---------------------------


def test_settings_the_reader_gave_itself_in_any_database_are_reset(
    private_reader: PrivateReader,
) -> None:
    user = sql.Identifier(private_reader.user)
    pipeline_db = private_reader.settings.warehouse.dbname
    with contextlib.closing(private_reader.connect()) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for database in (pipeline_db, "postgres"):
                cur.execute(
                    sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = nowhere").format(
                        user, sql.Identifier(database)
                    )
                )
            cur.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = 0").format(user))
    assert len(private_reader.settings_rows()) == 3
    assert _search_path(private_reader, pipeline_db) == "nowhere"  # as reported

    private_reader.service.after_healthy()  # the set-up, as every make local-up runs it

    assert private_reader.settings_rows() == [
        ("", [f"statement_timeout={STATEMENT_TIMEOUT_S * 1000}"])
    ]
    assert _search_path(private_reader, pipeline_db) == '"$user", public'
    done = run_module(
        "serving_layer", "query", "--name", "layers_summary", env=private_reader.lane.env()
    )
    assert done.returncode == 0, done.stderr[-500:]


def _search_path(reader: PrivateReader, dbname: str) -> str:
    """The search path a session of the reader starts with (no options of its own)."""
    with contextlib.closing(reader.connect(dbname)) as conn, conn.cursor() as cur:
        cur.execute("SHOW search_path")
        return str(cur.fetchall()[0][0])


# -- no other database, no temporary tables, no large objects -----------------------------


@pytest.mark.parametrize("database", ["postgres", "template1"])
def test_the_reader_may_connect_to_no_other_database(
    private_reader: PrivateReader, database: str
) -> None:
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        private_reader.connect(database)
    with contextlib.closing(private_reader.admin()) as conn, conn.cursor() as cur:
        # Nor may anyone but the superuser: PUBLIC keeps neither CONNECT nor TEMPORARY.
        cur.execute(
            "SELECT a.privilege_type FROM pg_database AS d, aclexplode(d.datacl) AS a "
            "WHERE d.datname = %s AND a.grantee = 0",
            (database,),
        )
        assert cur.fetchall() == []
        cur.execute(
            "SELECT has_database_privilege(%(r)s, %(d)s, 'CONNECT'), "
            "has_database_privilege(%(r)s, %(d)s, 'TEMPORARY')",
            {"r": private_reader.user, "d": database},
        )
        assert cur.fetchall() == [(False, False)]


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TEMPORARY TABLE scratch (x int)",
        "SELECT lo_from_bytea(0, 'x'::bytea)",
        "SELECT lo_create(0)",
        "SELECT lo_creat(-1)",
        "SELECT lo_import('/etc/hostname')",
    ],
)
def test_the_reader_creates_no_temporary_table_and_no_large_object(
    private_reader: PrivateReader, statement: str
) -> None:
    with (
        contextlib.closing(private_reader.connect()) as conn,
        conn.cursor() as cur,
        pytest.raises(psycopg2.errors.InsufficientPrivilege),
    ):
        cur.execute(statement)
    with contextlib.closing(private_reader.admin()) as conn, conn.cursor() as cur:
        # With it on, large objects would skip their privilege checks altogether.
        cur.execute("SHOW lo_compat_privileges")
        assert cur.fetchall() == [("off",)]
