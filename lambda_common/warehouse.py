"""The warehouse behind the batch, speed and serving views: Redshift, or PostgreSQL locally.

Both dialects speak the PostgreSQL wire protocol, so one psycopg2-based class serves
both; what differs (how files are loaded, DDL options) is keyed on ``dialect``.
Identifiers are always quoted with ``psycopg2.sql.Identifier`` and values bound as
parameters: nothing from data is ever formatted into SQL text.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, Literal, TextIO, TypeVar, cast

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from lambda_common.errors import ConfigError, SchemaError, ServiceUnavailable, TransientError
from lambda_common.retry import Backoff, retry_call
from lambda_common.settings import DsnParts, Settings, mask_dsn
from lambda_common.sql import load_sql, statements
from lambda_common.views import View
from lambda_common.views.sql import serving_ddl, table_ddl

logger = logging.getLogger(__name__)

Cursor = psycopg2.extensions.cursor

T = TypeVar("T")

# How long the serving view's DDL may wait for readers before ensure_schema gives up on it
# for this run (milliseconds). Redshift's bound is statement_timeout, which counts planning
# and WLM queueing too, so it gets more room; readers queue behind the DDL meanwhile.
VIEW_DDL_TIMEOUT_MS = {"postgres": 2_000, "redshift": 10_000}

# A transaction the warehouse aborted for a concurrent one (TransientError) is run again
# whole at once, a few times: the other one has usually committed by then. Jitter keeps
# the two from meeting again at the same instant.
TRANSACTION_BACKOFF = Backoff(first_s=0.2, cap_s=5.0, jitter=0.5)
TRANSACTION_ATTEMPTS = 5

# PostgreSQL's serialization_failure and deadlock_detected: the transaction was rolled back
# so that a concurrent one could commit; run again, it will likely succeed.
_RETRY_WHOLE_SQLSTATES = ("40001", "40P01")
# Redshift reports its serializable isolation violation as "ERROR: 1023 DETAIL:
# Serializable isolation violation on table ..." with SQLSTATE XX000 (internal_error);
# Amazon's advice is to retry the cancelled transaction.
_REDSHIFT_1023 = re.compile(
    r"(?:^|ERROR:\s*)1023\b|serializable isolation violation", re.IGNORECASE | re.MULTILINE
)


def is_transient(error: psycopg2.Error) -> bool:
    """Whether the warehouse aborted the transaction only for a concurrent one, so that
    running the whole transaction again will likely succeed (see ``TransientError``)."""
    if error.pgcode in _RETRY_WHOLE_SQLSTATES or isinstance(
        error, psycopg2.errors.SerializationFailure | psycopg2.errors.DeadlockDetected
    ):
        return True
    internal = error.pgcode == "XX000" or (
        error.pgcode is None and isinstance(error, psycopg2.errors.InternalError_)
    )
    return internal and bool(_REDSHIFT_1023.search(f"{error}\n{error.diag.message_detail or ''}"))


def one_line(error: BaseException, limit: int = 200) -> str:
    """An error as one short line: its first line, with the DETAIL line when the first is
    only a code (Redshift's "1023"), whitespace folded."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0]
    if text.isdigit():
        detail = next((line for line in lines[1:] if line.startswith("DETAIL:")), "")
        text = f"{text} {detail}".strip()
    return " ".join(text.split())[:limit]


class _ViewBusy(Exception):
    """The view's DDL timed out waiting for its readers (rolled back, retried next run)."""


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
        """Create the pipeline's tables and ``serving_view`` if missing (idempotent).

        Both layers call this at start, and the batch layer at every cycle, so it never
        waits for readers: ``CREATE TABLE IF NOT EXISTS`` of an existing table and the
        GRANTs take no lock a reader holds. Only the view's DDL (``CREATE OR REPLACE
        VIEW``, ACCESS EXCLUSIVE) would wait for every transaction that has read the view,
        so it runs only when the view is missing or its SQL text changed (its SHA-256 is
        kept in ``schema_objects``, recorded in the DDL's transaction). A changed view is
        replaced in a transaction of its own, bounded by ``VIEW_DDL_TIMEOUT_MS``: if
        readers hold it that long, the old definition stays (a warning) until the next
        run. A missing view is created in any case (nobody can be reading it).

        On PostgreSQL a lock on ``schema_lock``, a table QUERY_DSN's user cannot lock
        (``schema_lock.sql`` says why), keeps two concurrent starts from racing on
        ``CREATE TABLE IF NOT EXISTS``; on Redshift a concurrent start may be aborted
        (error 1023), and the whole transaction is run again. QUERY_DSN's user, if it
        exists, is granted reads on the tables and views (and nothing else).

        Tables created when the views' sums were ``bigint`` are brought to the contract's
        ``numeric(38,0)`` in the same transaction on PostgreSQL (rows kept). Redshift
        cannot change a column's type, so there this raises ``SchemaError`` naming what
        the operator has to drop before ``make recompute`` rebuilds it.
        """
        retry_call(
            self._ensure_schema_once,
            retry_on=TransientError,
            backoff=TRANSACTION_BACKOFF,
            attempts=TRANSACTION_ATTEMPTS,
            what="ensuring the warehouse schema",
        )

    def _ensure_schema_once(self) -> None:
        views = self.settings.views
        ddl = {v.serving_view: serving_ddl(v, self.dialect) for v in views}
        shas = {
            name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in ddl.items()
        }
        stale: list[str] = []
        with self.transaction() as cur:
            self._schema_lock(cur)
            self._run_file(cur, "schema")
            self._add_missing_columns(cur)
            for view in views:
                for statement in table_ddl(view, self.dialect):
                    cur.execute(statement)
            (outdated,) = statements(load_sql("sum_columns_outdated", self.dialect))
            cur.execute(outdated)
            old = [(str(table), str(column), str(kind)) for table, column, kind in cur.fetchall()]
            if old:
                self._migrate_sums(cur, old)  # drops serving_view: created again below
            for name, text in ddl.items():
                present, recorded = self._view_state(cur, name)
                if not present:
                    self._create_view(cur, name, text, shas[name])
                elif recorded != shas[name]:
                    stale.append(name)
            self._grant_reader(cur, views)  # on the new views too, so before the commit
        for name in stale:
            self._replace_view(name, ddl[name], shas[name])

    def _add_missing_columns(self, cur: Cursor) -> None:
        """Upgrade in place: add the columns an earlier version's tables lack."""
        (present,) = statements(load_sql("column_present", self.dialect))
        cur.execute(present, {"table": "raw_tweets", "column": "lang"})
        row = cur.fetchone()
        if row and int(row[0]) == 0:
            logger.warning(
                "raw_tweets gains the column lang ('(unknown)' for the rows loaded so far): "
                "run make recompute to fill it, and raw_hashtags, from the master dataset"
            )
            self._run_file(cur, "raw_tweets_add_lang")
        cur.execute(present, {"table": "raw_hashtags", "column": "event_hour"})
        row = cur.fetchone()
        if row and int(row[0]) == 0:
            # Filled from raw_tweets, so nothing needs the master dataset; a one-time
            # cost proportional to raw_hashtags, at the first start after the upgrade.
            logger.warning("raw_hashtags gains the column event_hour (filled from raw_tweets)")
            self._run_file(cur, "raw_hashtags_add_hour")
            if self.dialect == "redshift":
                logger.warning(
                    "raw_hashtags keeps its old sort key: until it is sorted by event_hour, "
                    "a cycle's rebuild of the hashtags view reads all of it. Run, outside a "
                    "transaction: ALTER TABLE raw_hashtags ALTER SORTKEY (event_hour)"
                )
        if self.dialect == "postgres":
            self._run_file(cur, "raw_hashtags_event_hour")
        else:
            (empty,) = statements(load_sql("raw_tweet_ids_empty", self.dialect))
            cur.execute(empty)
            row = cur.fetchone()
            if row and row[0]:
                logger.warning("raw_tweet_ids is filled once from raw_tweets (an upgrade)")
                self._run_file(cur, "raw_tweet_ids_fill")

    def _schema_lock(self, cur: Cursor) -> None:
        """Wait for any other process's schema check (PostgreSQL; see ``schema_lock.sql``)."""
        if self.dialect != "postgres":
            return
        try:
            self._run_file(cur, "schema_lock")
        except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable) as e:
            # Two first starts created schema_lock at once, and the other one committed
            # first: the table exists now, so the whole transaction can run again.
            raise TransientError(f"schema_lock was created concurrently: {one_line(e)}") from e

    def _view_state(self, cur: Cursor, name: str) -> tuple[bool, str | None]:
        """Whether the view ``name`` exists, and the SHA-256 recorded for it (if any)."""
        params = {"name": name}
        (present,) = statements(load_sql("view_present", self.dialect))
        cur.execute(present, params)
        rows = cur.fetchall()
        (recorded,) = statements(load_sql("schema_object_sha", self.dialect))
        cur.execute(recorded, params)
        shas = cur.fetchall()
        return bool(rows and rows[0][0]), (str(shas[0][0]) if shas else None)

    def _create_view(self, cur: Cursor, name: str, ddl: str, sha: str) -> None:
        """Run a serving view's DDL and record its SHA, in the caller's transaction."""
        cur.execute(ddl)
        self._run_file(cur, "schema_object_record", {"name": name, "sha": sha})

    def _replace_view(self, name: str, ddl: str, sha: str) -> None:
        """Replace the existing view with the definition ``sha`` names, unless readers
        hold it past ``VIEW_DDL_TIMEOUT_MS``: then keep the old one and warn."""
        timeout_ms = VIEW_DDL_TIMEOUT_MS[self.dialect]
        try:
            with self.transaction() as cur:
                self._schema_lock(cur)
                present, recorded = self._view_state(cur, name)  # another process may have
                if present and recorded == sha:
                    return
                if present:
                    self._run_file(cur, "view_ddl_timeout", {"ms": timeout_ms})
                    try:
                        # Dropped, not replaced: Redshift's CREATE OR REPLACE VIEW refuses a
                        # column whose type changed. Readers see the old view or the new
                        # one (one transaction), and the new one gets the reader's grant.
                        self._run_file(cur, "view_drop", view=name)
                        cur.execute(ddl)
                    except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled) as e:
                        raise _ViewBusy(one_line(e)) from e
                    self._run_file(cur, "view_ddl_timeout_end")
                    self._run_file(cur, "schema_object_record", {"name": name, "sha": sha})
                    self._grant_reader(cur, self.settings.views)
                else:
                    self._create_view(cur, name, ddl, sha)
        except _ViewBusy as e:
            logger.warning(
                "%s's definition changed, but readers held the view for over %.0fs: the old "
                "one stays until the next schema check (%s)",
                name,
                timeout_ms / 1000,
                e,
            )
        else:
            logger.info("%s replaced with its current definition", name)

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

    def _grant_reader(self, cur: Cursor, views: tuple[View, ...]) -> None:
        """Let QUERY_DSN's user read the pipeline's tables and views in the current
        schema (``reader_grants.sql``), if that user exists: a missing one is a warning,
        since on Redshift the operator creates it."""
        reader = self.settings.query.user
        if reader == self.settings.warehouse.user:
            logger.warning(
                "QUERY_DSN connects as the pipeline's own user %s: make query could write; "
                "give it a user that can only read (docs/contract-summary.md: Settings)",
                reader,
            )
            return
        (check,) = statements(load_sql("reader_role", self.dialect))
        cur.execute(check, {"reader": reader})
        rows = cur.fetchall()
        if not rows or not rows[0][1]:
            logger.warning(
                "QUERY_DSN's user %s does not exist in the warehouse: make query and "
                "make status cannot connect until it is created (docs/aws.md)",
                reader,
            )
            return
        names = {"schema": sql.Identifier(str(rows[0][0])), "reader": sql.Identifier(reader)}
        for statement in statements(load_sql("reader_grants", self.dialect)):
            cur.execute(sql.SQL(statement).format(**names))
        (grant,) = statements(load_sql("view_reader_grants", self.dialect))
        for view in views:
            for relation in (view.batch_table, view.speed_table, view.serving_view):
                cur.execute(
                    sql.SQL(grant).format(relation=sql.Identifier(relation), reader=names["reader"])
                )

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
