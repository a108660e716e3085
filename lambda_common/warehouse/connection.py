"""The warehouse behind the batch, speed and serving views: Redshift, or PostgreSQL locally.

Both dialects speak the PostgreSQL wire protocol, so one psycopg2-based class serves
both; what differs (how files are loaded, DDL options) is keyed on ``dialect``.
Identifiers are always quoted with ``psycopg2.sql.Identifier`` and values bound as
parameters: nothing from data is ever formatted into SQL text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, Literal, TextIO, TypeVar, cast

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from lambda_common.dsn import DsnParts, mask_dsn
from lambda_common.errors import ConfigError, ServiceUnavailable, TransientError
from lambda_common.retry import retry_call
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse.failures import (
    TRANSACTION_ATTEMPTS,
    TRANSACTION_BACKOFF,
    is_transient,
    one_line,
)
from lambda_common.warehouse.schema import ensure_schema

logger = logging.getLogger(__name__)

Cursor = psycopg2.extensions.cursor

T = TypeVar("T")


Role = Literal["writer", "reader"]
"""Who a :class:`Warehouse` connects as: ``writer``, the pipeline's own role
(``WAREHOUSE_DSN``), or ``reader``, the read-only role of everything that reads for
people (``QUERY_DSN``)."""


class Warehouse:
    """Connections and transactions against the configured warehouse.

    One connection is opened lazily and reused; ``transaction()`` commits on success and
    rolls back on any exception, so a crash mid-way leaves nothing half-written.
    ``role="reader"`` connects as ``QUERY_DSN``'s user, which can only read.
    """

    def __init__(
        self, settings: Settings, *, connect_timeout_s: int = 10, role: Role = "writer"
    ) -> None:
        self.settings = settings
        self.dialect = settings.warehouse_dialect
        self.role = role
        self._connect_timeout_s = connect_timeout_s
        self._conn: psycopg2.extensions.connection | None = None

    @property
    def dsn(self) -> DsnParts:
        """The parsed DSN this warehouse connects with (holds the password: do not log)."""
        return self.settings.query if self.role == "reader" else self.settings.warehouse

    @property
    def where(self) -> str:
        """The DSN without its password, for messages."""
        dsn = self.settings.query_dsn if self.role == "reader" else self.settings.warehouse_dsn
        return mask_dsn(dsn.get_secret_value())

    def connection(self) -> psycopg2.extensions.connection:
        """The open connection (opened on first use, reopened after a drop)."""
        if self._conn is None or self._conn.closed:
            try:
                keywords: dict[str, Any] = {
                    "application_name": "lambda-tweets",
                    **self.dsn.connect_kwargs(),
                    "connect_timeout": self._connect_timeout_s,
                }
                self._conn = psycopg2.connect(**keywords)
            except psycopg2.Error as e:
                # Keywords, not the URL: libpq never sees (or quotes) the DSN. Keep only
                # the first line, which names the failure (refused, auth, no database).
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ServiceUnavailable(
                    f"warehouse at {self.where} is unreachable: {first}{self._hint(first)}"
                ) from e
        return self._conn

    def _hint(self, failure: str) -> str:
        """The setting to fix, when the failure names one: TLS (the DSN's ``sslmode`` and
        ``sslrootcert``) or the password."""
        setting = "QUERY_DSN" if self.role == "reader" else "WAREHOUSE_DSN"
        password = "QUERY_PASSWORD" if self.role == "reader" else "WAREHOUSE_PASSWORD"
        text = failure.lower()
        if "certificate" in text or "ssl" in text:
            return f" (check sslmode and sslrootcert in {setting})"
        if "password authentication failed" in text:
            return f" (check {password}, or the password in {setting})"
        return ""

    def check(self) -> None:
        """Raise ``ServiceUnavailable`` unless a trivial query succeeds."""
        self.query("SELECT 1")

    def ensure_schema(self) -> None:
        """Create the pipeline's tables and serving views if missing, bring them up to the
        code's definitions and grant the reader its reads: see
        :func:`lambda_common.warehouse.schema.ensure_schema`."""
        ensure_schema(self)

    def _run_file(
        self, cur: Cursor, name: str, params: dict[str, Any] | None = None, **names: str
    ) -> None:
        """Run a SQL file's statements; ``names`` fill its ``{identifier}`` slots, quoted."""
        for statement in statements(load_sql(name, self.dialect)):
            if names:
                idents = {k: sql.Identifier(v) for k, v in names.items()}
                cur.execute(sql.SQL(statement).format(**idents), params)
            else:
                cur.execute(statement, params)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor inside one transaction: commit on success, roll back on error.

        A transaction the warehouse aborted for a concurrent one raises ``TransientError``
        (the connection stays open: run the whole transaction again, e.g. with
        :meth:`run_transaction`); a failed connection raises ``ServiceUnavailable`` (the
        connection is dropped and opened again on next use). Both are one line.
        """
        conn = self.connection()
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except psycopg2.Error as e:
            if is_transient(e):
                self._rollback(conn)
                raise TransientError(
                    f"warehouse at {self.where}: transaction aborted by a concurrent one "
                    f"(safe to run again): {one_line(e)}"
                ) from e
            if isinstance(e, psycopg2.OperationalError):
                self._discard()
                raise ServiceUnavailable(f"warehouse at {self.where}: {one_line(e)}") from e
            self._rollback(conn)
            raise
        except BaseException:
            self._rollback(conn)
            raise

    def run_transaction(
        self, work: Callable[[Cursor], T], *, what: str, attempts: int = TRANSACTION_ATTEMPTS
    ) -> T:
        """``work(cursor)`` in one transaction, run again whole (a fresh transaction each
        time) while the warehouse aborts it for a concurrent one (``TransientError``), up
        to ``attempts`` times. ``work`` must do all its writes through the cursor, so that
        an aborted run leaves nothing behind."""

        def once() -> T:
            with self.transaction() as cur:
                return work(cur)

        return retry_call(
            once,
            retry_on=TransientError,
            backoff=TRANSACTION_BACKOFF,
            attempts=attempts,
            what=what,
        )

    def _rollback(self, conn: psycopg2.extensions.connection) -> None:
        if conn.closed:
            return
        try:
            conn.rollback()
        except psycopg2.Error:
            # The original error is the one to report; a connection that cannot even roll
            # back is dropped and opened again on next use.
            logger.debug("rollback failed; dropping the connection", exc_info=True)
            self._discard()

    def query(
        self,
        statement: str | sql.Composable,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run a read query in its own transaction and return all rows."""
        with self.transaction() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())

    def execute(self, statement: str | sql.Composable, params: Sequence[Any] | None = None) -> int:
        """Run one statement in its own transaction; return the affected row count."""
        with self.transaction() as cur:
            cur.execute(statement, params)
            return int(cur.rowcount)

    def copy_from_stream(
        self,
        cur: Cursor,
        table: str,
        columns: Sequence[str],
        stream: IO[bytes] | IO[str],
        *,
        fmt: str = "csv",
    ) -> int:
        """``COPY table (columns) FROM STDIN`` inside the caller's transaction (PostgreSQL).

        Redshift has no ``COPY FROM STDIN``: it loads from S3 (see the batch layer).
        """
        if self.dialect != "postgres":
            raise ConfigError(
                "COPY FROM STDIN needs WAREHOUSE_DIALECT=postgres; Redshift loads from S3"
            )
        if fmt not in ("csv", "text"):
            raise ValueError(f"unsupported COPY format {fmt!r}")
        statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT {})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.SQL(fmt),
        )
        # psycopg2 reads bytes or text alike; its stubs only admit TextIO.
        cur.copy_expert(statement, cast(TextIO, stream))
        return int(cur.rowcount)

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                logger.debug("ignoring error while closing a broken connection", exc_info=True)
        self._conn = None

    def close(self) -> None:
        """Close the connection, if open."""
        self._discard()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
