"""A reader role of a test's own, set up by the local stack's own code, for the tests that
change a reader's settings or use up its connections: doing that to the shared
``lambda_reader`` would disturb every other test using the stack."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2 import sql
from pydantic import SecretStr

from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from local_stack.postgres import PostgresService
from tests.integration.helpers import Lane
from tests.stack import StackHandle

CONNECTION_LIMIT = 3
STATEMENT_TIMEOUT_S = 7


@dataclass
class PrivateReader:
    """A reader role of one test: its name, a lane whose QUERY_DSN connects as it (and
    which granted it its reads), and the local stack's PostgreSQL service set up for it."""

    user: str
    lane: Lane
    service: PostgresService

    @property
    def settings(self) -> Settings:
        return self.lane.settings

    def connect(self, dbname: str | None = None) -> psycopg2.extensions.connection:
        """A session of the reader (in the pipeline's database, or ``dbname``)."""
        keywords = self.settings.query.connect_kwargs()
        if dbname is not None:
            keywords = {**keywords, "dbname": dbname, "options": ""}
        return psycopg2.connect(**keywords, connect_timeout=5)

    def admin(self, dbname: str | None = None) -> psycopg2.extensions.connection:
        """A superuser session (autocommit) in the pipeline's database, or ``dbname``."""
        conn = self.service._admin_connect(dbname or self.settings.warehouse.dbname)
        conn.autocommit = True
        return conn

    def settings_rows(self) -> list[tuple[str, list[str]]]:
        """The reader's own settings as pg_db_role_setting holds them: (database, or ''
        for every database, settings)."""
        with contextlib.closing(self.admin()) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT COALESCE(d.datname, ''), s.setconfig FROM pg_db_role_setting AS s "
                "JOIN pg_roles AS r ON r.oid = s.setrole "
                "LEFT JOIN pg_database AS d ON d.oid = s.setdatabase "
                "WHERE r.rolname = %s ORDER BY 1",
                (self.user,),
            )
            return [(str(db), list(config)) for db, config in cur.fetchall()]


def as_reader(settings: Settings, user: str, password: str) -> Settings:
    """``settings`` whose QUERY_DSN connects as ``user`` (same server, database, options)."""
    parts = urlsplit(settings.query_dsn.get_secret_value())
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return settings.model_copy(
        update={
            "query_dsn": SecretStr(urlunsplit(parts._replace(netloc=netloc))),
            "query_password": None,
            "query_connection_limit": CONNECTION_LIMIT,
            "query_statement_timeout": STATEMENT_TIMEOUT_S,
        }
    )


@pytest.fixture
def private_reader(stack: StackHandle, lane: Lane) -> Iterator[PrivateReader]:
    """A reader role made by the local stack's set-up (``PostgresService.after_healthy``)
    with a small connection limit, granted its reads in the lane; dropped afterwards."""
    if stack.local is None or "postgres" not in stack.local.services:
        pytest.skip(f"needs the local stack's PostgreSQL superuser, not {stack.kind}")
    user = stack.unique("it_reader")
    settings = as_reader(lane.settings, user, secrets.token_urlsafe(18))
    service = PostgresService(settings, stack.local.stack_dir)
    service.after_healthy()
    reader = PrivateReader(user, Lane(settings, lane.schema), service)
    try:
        with Warehouse(settings) as wh:
            wh.ensure_schema()  # grants the reader its reads, as make init does
        yield reader
    finally:
        with contextlib.closing(reader.admin()) as conn, conn.cursor() as cur:
            # Its privileges here and on the databases (DROP OWNED), then the role and
            # with it its settings in every database.
            cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))
