"""``make query`` cannot write, by privilege, not by parsing (issue 14).

Each text below once slipped past the query command's statement check: a dollar-quote tag
with a non-ASCII letter (``$é$``, which PostgreSQL accepts) hid the rest of the text inside
what the check read as a string literal, so psycopg2 sent the whole text in one simple
query after ``BEGIN READ ONLY``, and a ``COMMIT`` or ``ROLLBACK`` in it ended the read-only
transaction. Connected as the pipeline's own role, which owns every table, each of these
changed the warehouse (or killed a pipeline session) and exited 0.

Now each must (1) fail through ``make query`` in one ``error:`` line, exit 1 (the check
reads dollar tags as PostgreSQL does), and (2) with the check taken out of the way, as a
future hole in it would leave it, still fail as QUERY_DSN's reader role: every table, the
large objects and the pipeline's open session stay as they were.

Strings inside the payloads are dollar-quoted (``$s$...$s$``): a single quote would end
the literal the statement check believed it was reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg2 import sql

from lambda_common.errors import QueryError
from lambda_common.warehouse import Warehouse
from serving_layer import execute, status
from tests.integration.helpers import Lane, run_module

# Everything between the quote the check believes opens a string and the one closing it,
# after ``--``, is invisible to the check: the payload.
OPEN, CLOSE = "SELECT $é$'$é$; ", " -- '"


@dataclass(frozen=True)
class Snapshot:
    """What must not change: every relation of the lane's schema with its rows, and the
    database's large objects."""

    relations: dict[str, list[tuple[Any, ...]]]
    large_objects: int


@dataclass
class Target:
    """A lane with the pipeline's tables, a little data, and an open pipeline session."""

    lane: Lane
    pipeline: Warehouse
    pid: int
    writer: str

    def snapshot(self) -> Snapshot:
        with Warehouse(self.lane.settings) as wh:
            names = [
                str(name)
                for (name,) in wh.query(
                    "SELECT c.relname FROM pg_class AS c "
                    "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'v') ORDER BY 1",
                    (self.lane.schema,),
                )
            ]
            relations = {
                name: sorted(
                    wh.query(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name))), key=repr
                )
                for name in names
            }
            ((large_objects,),) = wh.query("SELECT COUNT(*) FROM pg_largeobject_metadata")
        return Snapshot(relations, int(large_objects))


@pytest.fixture
def target(lane: Lane) -> Iterator[Target]:
    pipeline = Warehouse(lane.settings)
    pipeline.ensure_schema()  # grants the reader its reads, as make init does
    with pipeline.transaction() as cur:
        cur.execute("INSERT INTO batch_horizon (horizon) VALUES (now())")
        cur.execute(
            "INSERT INTO batch_view VALUES (date_trunc('hour', now()), 'Paris', 1, 2, 3, 4)"
        )
        cur.execute(
            "INSERT INTO batch_hashtags VALUES (date_trunc('hour', now()), 'python', 1, 2, 3, 4)"
        )
        cur.execute(
            "INSERT INTO speed_languages VALUES (date_trunc('hour', now()), 'en', 1, 2, 3, 4)"
        )
        cur.execute("INSERT INTO raw_hashtags VALUES ('1', 'python', date_trunc('hour', now()))")
        cur.execute("SELECT pg_backend_pid(), current_user")
        ((pid, writer),) = cur.fetchall()
    try:
        yield Target(lane, pipeline, int(pid), str(writer))
    finally:
        pipeline.close()


def attack(target: Target, text: str) -> tuple[int, str, str]:
    """The text through ``make query --sql``, as a user would send it."""
    done = run_module("serving_layer", "query", "--sql", text, env=target.lane.env(), timeout=60)
    return done.returncode, done.stdout, done.stderr


def assert_refused_and_intact(target: Target, text: str, before: Snapshot) -> None:
    # 1. The command refuses it with one line (today its statement check already does).
    code, out, err = attack(target, text)
    lines = err.strip().splitlines()
    assert code == 1, f"exit {code}: {out[-500:]} {err[-500:]}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert target.snapshot() == before
    # 2. The protection itself: the same text with the statement check out of the way (as
    # a future hole in it would leave it) still changes nothing, as QUERY_DSN's reader.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(execute, "check_statement", lambda *args: None)
        with (
            Warehouse(target.lane.settings, role="reader") as reader,
            pytest.raises(QueryError) as refused,
        ):
            execute.run_query(reader, text)
    assert "\n" not in str(refused.value)
    assert target.snapshot() == before
    # The pipeline's session is the same backend, alive and usable.
    assert target.pipeline.query("SELECT pg_backend_pid()") == [(target.pid,)]


PAYLOADS = {
    "commit-drop-view": "COMMIT; DROP VIEW serving_view;",
    "commit-delete": "COMMIT; DELETE FROM batch_view;",
    "rollback-truncate": "ROLLBACK; TRUNCATE batch_horizon;",
    "rollback-insert": ("ROLLBACK; INSERT INTO batch_view VALUES (now(), $s$x$s$, 9, 9, 9, 9);"),
    "commit-alter": "COMMIT; ALTER TABLE batch_view ADD COLUMN evil int;",
    "commit-delete-hashtags": "COMMIT; DELETE FROM batch_hashtags; DELETE FROM raw_hashtags;",
    "commit-drop-view-languages": "COMMIT; DROP VIEW serving_languages;",
    "rollback-update-languages": (
        "ROLLBACK; UPDATE speed_languages SET tweet_count = tweet_count + 1;"
    ),
    "select-for-update": "COMMIT; SELECT * FROM batch_horizon FOR UPDATE;",
    "create-temp-table": "COMMIT; CREATE TEMP TABLE scratch AS SELECT 1 AS x;",
    "set-config-then-write": (
        "COMMIT; SELECT set_config($s$default_transaction_read_only$s$, $s$off$s$, false); "
        "DELETE FROM batch_horizon;"
    ),
    "large-object-then-lo-import": (
        "COMMIT; SELECT lo_from_bytea(0, $s$x$s$); COMMIT; SELECT lo_import($s$/etc/hostname$s$);"
    ),
}


def test_the_reported_bypass_is_refused_and_changes_nothing(target: Target) -> None:
    # As reported, with CASCADE: serving_view depends on batch_horizon, and without it
    # PostgreSQL itself would refuse the DROP, whoever asked.
    before = target.snapshot()
    assert_refused_and_intact(
        target, "SELECT $é$'$é$; COMMIT; DROP TABLE batch_horizon CASCADE; -- '", before
    )


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_write_after_the_read_only_transaction_is_refused(target: Target, payload: str) -> None:
    before = target.snapshot()
    assert_refused_and_intact(target, OPEN + payload + CLOSE, before)


def test_set_role_to_the_pipeline_is_refused(target: Target) -> None:
    before = target.snapshot()
    payload = f'COMMIT; SET ROLE "{target.writer}"; DROP TABLE batch_view CASCADE;'
    assert_refused_and_intact(target, OPEN + payload + CLOSE, before)


def test_copy_to_program_runs_nothing(target: Target, tmp_path: Path) -> None:
    """Staged as an attacker would: a table of their own, committed, then the program.
    (Only a superuser may COPY TO PROGRAM; the table is what the pipeline's role could
    leave behind.)"""
    marker = tmp_path / "ran"
    before = target.snapshot()
    payload = (
        f'COMMIT; CREATE TABLE "{target.lane.schema}".exfil AS SELECT 1 AS x; COMMIT; '
        f"COPY exfil TO PROGRAM $s$touch {marker}$s$;"
    )
    assert_refused_and_intact(target, OPEN + payload + CLOSE, before)
    assert not marker.exists()


def test_the_pipelines_session_cannot_be_terminated(target: Target) -> None:
    before = target.snapshot()
    assert_refused_and_intact(
        target, f"SELECT $é$'$é$, pg_terminate_backend({target.pid}) -- '", before
    )
    assert_refused_and_intact(
        target,
        f"SELECT pg_cancel_backend({target.pid}), pg_terminate_backend({target.pid})",
        before,
    )


def test_the_reader_owns_nothing_and_may_create_nothing(target: Target) -> None:
    """The role itself, as the catalogue describes it: the cause of every refusal above."""
    reader = target.lane.settings.query.user
    with Warehouse(target.lane.settings) as wh:
        ((attrs,),) = wh.query(
            "SELECT ROW(rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolreplication, "
            "rolbypassrls)::text FROM pg_roles WHERE rolname = %s",
            (reader,),
        )
        assert attrs == "(f,f,f,f,f,f)"
        ((owned,),) = wh.query(
            "SELECT COUNT(*) FROM pg_class WHERE relowner = "
            "(SELECT oid FROM pg_roles WHERE rolname = %s)",
            (reader,),
        )
        assert owned == 0
        ((memberships,),) = wh.query(
            "SELECT COUNT(*) FROM pg_auth_members WHERE member = "
            "(SELECT oid FROM pg_roles WHERE rolname = %s)",
            (reader,),
        )
        assert memberships == 0
        rights = wh.query(
            "SELECT has_schema_privilege(%(r)s, %(s)s, 'CREATE'), "
            "has_schema_privilege(%(r)s, 'public', 'CREATE'), "
            "has_database_privilege(%(r)s, current_database(), 'CREATE'), "
            "has_database_privilege(%(r)s, current_database(), 'TEMPORARY'), "
            "has_schema_privilege(%(r)s, %(s)s, 'USAGE'), "
            "has_table_privilege(%(r)s, 'serving_view', 'SELECT'), "
            "has_table_privilege(%(r)s, 'batch_horizon', 'INSERT, UPDATE, DELETE, TRUNCATE')",
            {"r": reader, "s": target.lane.schema},
        )
        assert rights == [(False, False, False, False, True, True, False)]
        # Every view's relations (settings.views) and the raw tables: read, never write.
        relations = status.relations(target.lane.settings.views)
        assert {"raw_hashtags", "serving_hashtags", "batch_languages"} <= set(relations)
        for relation in relations:
            may = wh.query(
                "SELECT has_table_privilege(%(r)s, %(t)s, 'SELECT'), "
                "has_table_privilege(%(r)s, %(t)s, 'INSERT, UPDATE, DELETE, TRUNCATE, "
                "REFERENCES, TRIGGER')",
                {"r": reader, "t": relation},
            )
            assert may == [(True, False)], relation
