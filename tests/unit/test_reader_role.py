"""The reader role of ``make query``/``make status``/the demo (issue 14), without a
database: its settings (QUERY_DSN, QUERY_PASSWORD), which connection each reader opens,
the grants ``ensure_schema`` gives it, and the local stack's refusals."""

from __future__ import annotations

import argparse
import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from lambda_common.errors import ConfigError, ServiceUnavailable, StackError
from lambda_common.settings import Settings, load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Role, Warehouse
from lambda_demo import demo
from local_stack.postgres import PostgresService
from serving_layer import query, status
from serving_layer.dashboard.reads import WarehouseReads
from tests.unit.fake_connection import FakeConnection

# The defaults are what these tests check: no developer .env or exported variable.
pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("clean_env")]

READER_CHECK = statements(load_sql("reader_role", "postgres"))[0]


# -- settings ----------------------------------------------------------------------------


def test_the_reader_defaults_to_the_local_stacks_reader() -> None:
    s = load_settings()
    assert (s.query.user, s.query.password) == ("lambda_reader", "lambda-reader-local")
    assert (s.query.host, s.query.port, s.query.dbname) == ("localhost", 5439, "lambda")
    assert s.query.user != s.warehouse.user


def test_query_password_needs_no_encoding_and_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_DSN", "postgresql://ro:old@db/lake?sslmode=require")
    monkeypatch.setenv("QUERY_PASSWORD", "p@ss:w/rd?#%&=s3cr3t")
    s = load_settings()
    assert s.query.connect_kwargs() == {
        "host": "db",
        "port": 5439,
        "user": "ro",
        "password": "p@ss:w/rd?#%&=s3cr3t",
        "dbname": "lake",
        "sslmode": "require",
    }
    # The pipeline's own credentials are untouched by the reader's.
    assert s.warehouse.password == "lambda-local"
    shown = dict(s.describe())
    assert shown["QUERY_DSN"] == "postgresql://ro:***@db/lake?sslmode=require"
    assert shown["QUERY_PASSWORD"] == "****"
    assert "s3cr3t" not in "\n".join(shown.values()) + repr(s) and "old" not in shown["QUERY_DSN"]


def test_a_bad_query_dsn_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_DSN", "mysql://ro:s3cr3t-pw@host/db")
    with pytest.raises(ConfigError, match="invalid setting QUERY_DSN") as info:
        load_settings()
    assert "s3cr3t" not in str(info.value)


def test_in_schema_scopes_the_readers_dsn_too() -> None:
    scoped = load_settings(query_dsn="postgresql://ro:p@h:5439/db").in_schema("lane_1")
    assert scoped.query_dsn.get_secret_value() == (
        "postgresql://ro:p@h:5439/db?options=-csearch_path%3Dlane_1"
    )
    assert dict(scoped.query.params) == dict(scoped.warehouse.params)


def test_the_readers_limits_default_to_20_connections_and_60_s() -> None:
    s = load_settings()
    assert (s.query_connection_limit, s.query_statement_timeout) == (20, 60)
    shown = dict(s.describe())
    assert (shown["QUERY_CONNECTION_LIMIT"], shown["QUERY_STATEMENT_TIMEOUT"]) == ("20", "60")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("QUERY_CONNECTION_LIMIT", "0", "greater than or equal to 1"),
        ("QUERY_CONNECTION_LIMIT", "-1", "greater than or equal to 1"),
        ("QUERY_CONNECTION_LIMIT", "lots", "valid integer"),
        ("QUERY_STATEMENT_TIMEOUT", "0", "greater than or equal to 1"),
        ("QUERY_STATEMENT_TIMEOUT", "2h", "less than or equal to 3600"),
    ],
)
def test_bad_reader_limits_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"invalid setting {name}: .*{message}"):
        load_settings()


# -- who connects as whom ----------------------------------------------------------------


def _users(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the user of every connection attempt, and refuse it at once."""
    users: list[str] = []

    def connect(**keywords: Any) -> None:
        users.append(keywords["user"])
        raise psycopg2.OperationalError("connection refused")

    monkeypatch.setattr(psycopg2, "connect", connect)
    return users


@pytest.mark.parametrize(("role", "user"), [("reader", "lambda_reader"), ("writer", "lambda")])
def test_a_warehouse_connects_as_the_role_asked_for(
    monkeypatch: pytest.MonkeyPatch, role: Role, user: str
) -> None:
    users = _users(monkeypatch)
    warehouse = Warehouse(load_settings(), role=role)
    with pytest.raises(ServiceUnavailable, match=f"postgresql://{user}:\\*\\*\\*@"):
        warehouse.check()
    assert users == [user]


def test_query_status_and_the_demo_read_as_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    users = _users(monkeypatch)
    parser = argparse.ArgumentParser()
    query.add_arguments(parser)
    with pytest.raises(ServiceUnavailable):
        query.run(s, parser.parse_args(["--sql", "SELECT 1"]))
    assert users == ["lambda_reader"]
    facts = status.gather_warehouse(s, datetime.now(UTC))
    assert users == ["lambda_reader", "lambda_reader"]
    assert facts.error and facts.where.startswith("postgresql://lambda_reader:***@")
    shown = demo.Demo(s, argparse.Namespace(log_dir=Path("unused")), out=io.StringIO())
    assert shown.reader.role == "reader"
    with pytest.raises(ServiceUnavailable):  # the dashboard's charts
        WarehouseReads(s).speed_batches(1)
    assert users[-1] == "lambda_reader"


# -- grants --------------------------------------------------------------------------------


def _ensure(settings: Settings, *, schema: str = "lane 1", exists: bool = True) -> list[str]:
    warehouse = Warehouse(settings)
    conn = FakeConnection({READER_CHECK: [(schema, exists)]})
    warehouse._conn = conn  # type: ignore[assignment]
    warehouse.ensure_schema()
    checks = [params for text, params in conn.executed if text == READER_CHECK]
    assert checks in ([], [{"reader": settings.query.user}])
    code = [
        " ".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        for text, _ in conn.executed
    ]
    return [text for text in code if text.startswith(("GRANT", "REVOKE"))]


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_an_existing_reader_may_read_the_relations_and_nothing_more(dialect: str) -> None:
    settings = load_settings(
        warehouse_dialect=dialect, query_dsn='postgresql://r"o@localhost/lambda'
    )
    grants = _ensure(settings)
    quoted = '"r""o"'
    assert grants[0] == f'GRANT USAGE ON SCHEMA "lane 1" TO {quoted}'
    views = status.relations(settings.views)[len(status.TABLES) :]
    assert grants[1:] == [f"GRANT SELECT ON TABLE {n} TO {quoted}" for n in status.TABLES] + [
        f'GRANT SELECT ON TABLE "{n}" TO {quoted}' for n in views
    ], "the reader may read exactly what make status reads"
    assert all("CREATE" not in g and "ALL" not in g and "OPTION" not in g for g in grants)


def test_a_missing_reader_is_one_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lambda_common.warehouse"):
        assert _ensure(load_settings(), exists=False) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "lambda_reader does not exist" in warnings[0]
    assert "\n" not in warnings[0]


def test_a_reader_that_is_the_pipeline_is_warned_about_and_granted_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(query_dsn="postgresql://lambda@localhost:5439/lambda")
    with caplog.at_level(logging.WARNING, logger="lambda_common.warehouse"):
        assert _ensure(settings) == []
    assert "make query could write" in caplog.text


# -- the local stack ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query_dsn", "message"),
    [
        ("postgresql://lambda@localhost:5439/lambda", "QUERY_DSN must name a user of its own"),
        ("postgresql://postgres@localhost:5439/lambda", "must not use the superuser"),
    ],
)
def test_the_local_stack_refuses_a_reader_that_could_write(
    tmp_path: Path, query_dsn: str, message: str
) -> None:
    service = PostgresService(load_settings(query_dsn=query_dsn), tmp_path)
    with pytest.raises(StackError, match=message):
        service.after_healthy()  # refused before any connection is attempted


def test_the_local_stacks_reader_set_up_limits_resets_and_shuts_other_databases(
    tmp_path: Path,
) -> None:
    """What ``_ensure_reader`` sends (findings 2 and 3): the connection limit and the
    statement timeout on the role, every per-database setting it gave itself reset, and
    CONNECT and TEMPORARY taken from PUBLIC and the reader on every other database."""
    settings = load_settings(query_connection_limit=7, query_statement_timeout="90s")
    service = PostgresService(settings, tmp_path)
    per_database = statements(load_sql("reader_role_databases", "postgres"))[0]
    others = statements(load_sql("reader_other_databases", "postgres"))[0]
    conn = FakeConnection(
        {
            "SELECT 1 FROM pg_roles WHERE rolname = %s": [(1,)],
            per_database: [("lambda",), ("odd db",)],
            others: [("postgres",), ("template1",)],
        }
    )
    with conn.cursor() as cur:
        service._ensure_reader(cur, 'r"o', "pw", "lambda")  # type: ignore[arg-type]
    sent = [
        (" ".join(line for line in text.splitlines() if not line.startswith("--")), params)
        for text, params in conn.executed
    ]
    setup = {
        "password": "pw",
        "connection_limit": 7,
        "statement_timeout_ms": 90_000,
    }
    assert sent[1] == (
        'ALTER ROLE "r""o" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT '
        "NOREPLICATION NOBYPASSRLS CONNECTION LIMIT %(connection_limit)s "
        "PASSWORD %(password)s",
        setup,
    )
    assert sent[2:4] == [
        ('ALTER ROLE "r""o" RESET ALL', setup),
        ('ALTER ROLE "r""o" SET statement_timeout = %(statement_timeout_ms)s', setup),
    ]
    code = [text for text, _ in sent]
    assert [text for text in code if " IN DATABASE " in text] == [
        'ALTER ROLE "r""o" IN DATABASE "lambda" RESET ALL',
        'ALTER ROLE "r""o" IN DATABASE "odd db" RESET ALL',
    ]
    assert [text for text in code if text.startswith("REVOKE CONNECT")] == [
        'REVOKE CONNECT, TEMPORARY ON DATABASE "postgres" FROM PUBLIC',
        'REVOKE CONNECT, TEMPORARY ON DATABASE "postgres" FROM "r""o"',
        'REVOKE CONNECT, TEMPORARY ON DATABASE "template1" FROM PUBLIC',
        'REVOKE CONNECT, TEMPORARY ON DATABASE "template1" FROM "r""o"',
    ]
    # The databases are asked for by bound values: the reader's name, the pipeline's.
    asked = dict(conn.executed)
    assert (asked[per_database], asked[others]) == ({"reader": 'r"o'}, {"database": "lambda"})
