"""The warehouse behind the batch, speed and serving views: Redshift, or PostgreSQL locally.

Both dialects speak the PostgreSQL wire protocol, so one psycopg2-based class serves
both; what differs (how files are loaded, DDL options) is keyed on ``dialect``.
Identifiers are always quoted with ``psycopg2.sql.Identifier`` and values bound as
parameters: nothing from data is ever formatted into SQL text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Literal, TextIO, cast

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from lambda_common.errors import ConfigError, SchemaError, ServiceUnavailable
from lambda_common.settings import DsnParts, Settings, mask_dsn
from lambda_common.sql import load_sql, statements

logger = logging.getLogger(__name__)

Cursor = psycopg2.extensions.cursor

# Any fixed 64-bit number; it only has to be the same in every process of the pipeline.
SCHEMA_LOCK_KEY = 0x6C616D626461  # "lambda"

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
                    f"warehouse at {self.where} is unreachable: {first}"
                ) from e
        return self._conn

    def check(self) -> None:
        """Raise ``ServiceUnavailable`` unless a trivial query succeeds."""
        self.query("SELECT 1")

    def ensure_schema(self) -> None:
        """Create the pipeline's tables and ``serving_view`` if missing (idempotent).

        Both layers call this at start; on PostgreSQL a transaction-level advisory lock
        keeps two concurrent starts from racing on ``CREATE TABLE IF NOT EXISTS``.
        QUERY_DSN's user, if it exists, is then granted reads on them (and nothing else).

        Tables created when the views' sums were ``bigint`` are brought to the contract's
        ``numeric(38,0)`` in the same transaction on PostgreSQL (rows kept). Redshift
        cannot change a column's type, so there this raises ``SchemaError`` naming what
        the operator has to drop before ``make recompute`` rebuilds it.
        """
        with self.transaction() as cur:
            if self.dialect == "postgres":
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            self._run_file(cur, "schema")
            (outdated,) = statements(load_sql("sum_columns_outdated", self.dialect))
            cur.execute(outdated)
            old = [(str(table), str(column), str(kind)) for table, column, kind in cur.fetchall()]
            if old:
                self._migrate_sums(cur, old)
            self._run_file(cur, "serving_view")
            self._grant_reader(cur)

    def _run_file(self, cur: Cursor, name: str) -> None:
        for statement in statements(load_sql(name, self.dialect)):
            cur.execute(statement)

    def _grant_reader(self, cur: Cursor) -> None:
        """Let QUERY_DSN's user read the pipeline's tables and views in the current
        schema (``reader_grants.sql``), if that user exists: a missing one is a warning,
        since on Redshift the operator creates it."""
        reader = self.settings.query.user
        if reader == self.settings.warehouse.user:
            logger.warning(
                "QUERY_DSN connects as the pipeline's own user %s: make query could write; "
                "give it a user that can only read (README: Settings)",
                reader,
            )
            return
        (check,) = statements(load_sql("reader_role", self.dialect))
        cur.execute(check, {"reader": reader})
        rows = cur.fetchall()
        if not rows or not rows[0][1]:
            logger.warning(
                "QUERY_DSN's user %s does not exist in the warehouse: make query and "
                "make status cannot connect until it is created (README: Going to AWS)",
                reader,
            )
            return
        names = {"schema": sql.Identifier(str(rows[0][0])), "reader": sql.Identifier(reader)}
        for statement in statements(load_sql("reader_grants", self.dialect)):
            cur.execute(sql.SQL(statement).format(**names))

    def _migrate_sums(self, cur: Cursor, old: list[tuple[str, str, str]]) -> None:
        """Widen the sum columns ``old`` (table, column, type) lists to numeric(38,0)."""
        tables = sorted({table for table, _, _ in old})
        if self.dialect != "postgres":
            raise SchemaError(
                f"warehouse tables {', '.join(tables)} hold the sums as "
                f"{'/'.join(sorted({kind for _, _, kind in old}))}, not decimal(38,0), and "
                "Redshift cannot change a column's type: stop both layers, run "
                "DROP VIEW serving_view; DROP TABLE batch_view, batch_daily, speed_view; "
                "then make recompute, and start the speed layer on an empty SPEED_CHECKPOINT"
            )
        logger.warning(
            "widening the sums of %s to numeric(38,0) (serving_view recreated)", ", ".join(tables)
        )
        try:
            self._run_file(cur, "sum_columns_migrate")
        except psycopg2.OperationalError:
            raise  # the connection failed: transaction() reports ServiceUnavailable
        except psycopg2.Error as e:
            # E.g. a view of the operator's own reads one of these columns: PostgreSQL then
            # refuses the ALTER, and dropping such a view for them is not ours to do.
            diag = e.diag
            why = diag.message_primary or type(e).__name__
            if diag.message_detail:  # names the object in the way, e.g. the dependent view
                why += f" ({diag.message_detail.strip().splitlines()[0]})"
            raise SchemaError(
                f"could not widen the sums of {', '.join(tables)} to numeric(38,0): {why}"
            ) from e

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor inside one transaction: commit on success, roll back on error."""
        conn = self.connection()
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except psycopg2.OperationalError as e:
            self._discard()
            raise ServiceUnavailable(f"warehouse at {self.where}: {str(e).strip()[:200]}") from e
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise

    def query(
        self, statement: str | sql.Composable, params: Sequence[Any] | None = None
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
