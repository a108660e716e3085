"""The pipeline's tables and serving views in the warehouse, kept as the code defines them:
created when missing, upgraded in place, a changed serving view replaced without waiting
on its readers, and the reader's grants (``Warehouse.ensure_schema``)."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from lambda_common.errors import SchemaError, TransientError
from lambda_common.retry import retry_call
from lambda_common.sql import load_sql, statements
from lambda_common.views import View
from lambda_common.views.sql import serving_ddl, table_ddl
from lambda_common.warehouse.failures import TRANSACTION_ATTEMPTS, TRANSACTION_BACKOFF, one_line

if TYPE_CHECKING:
    from lambda_common.warehouse.connection import Cursor, Warehouse

logger = logging.getLogger(__name__)

# How long the serving view's DDL may wait for readers before ensure_schema gives up on it
# for this run (milliseconds). Redshift's bound is statement_timeout, which counts planning
# and WLM queueing too, so it gets more room; readers queue behind the DDL meanwhile.
VIEW_DDL_TIMEOUT_MS = {"postgres": 2_000, "redshift": 10_000}


class _ViewBusy(Exception):
    """The view's DDL timed out waiting for its readers (rolled back, retried next run)."""


def ensure_schema(warehouse: Warehouse) -> None:
    """Create the pipeline's tables and serving views if missing (idempotent).

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
        _Schema(warehouse).ensure_once,
        retry_on=TransientError,
        backoff=TRANSACTION_BACKOFF,
        attempts=TRANSACTION_ATTEMPTS,
        what="ensuring the warehouse schema",
    )


class _Schema:
    """One schema check of ``wh``: its steps, each in the transaction it is handed."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self.settings = wh.settings
        self.dialect = wh.dialect

    def ensure_once(self) -> None:
        views = self.settings.views
        ddl = {v.serving_view: serving_ddl(v, self.dialect) for v in views}
        shas = {
            name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in ddl.items()
        }
        stale: list[str] = []
        with self.wh.transaction() as cur:
            self._schema_lock(cur)
            self.wh._run_file(cur, "schema")
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
            self.wh._run_file(cur, "raw_tweets_add_lang")
        cur.execute(present, {"table": "raw_hashtags", "column": "event_hour"})
        row = cur.fetchone()
        if row and int(row[0]) == 0:
            # Filled from raw_tweets, so nothing needs the master dataset; a one-time
            # cost proportional to raw_hashtags, at the first start after the upgrade.
            logger.warning("raw_hashtags gains the column event_hour (filled from raw_tweets)")
            self.wh._run_file(cur, "raw_hashtags_add_hour")
            if self.dialect == "redshift":
                logger.warning(
                    "raw_hashtags keeps its old sort key: until it is sorted by event_hour, "
                    "a cycle's rebuild of the hashtags view reads all of it. Run, outside a "
                    "transaction: ALTER TABLE raw_hashtags ALTER SORTKEY (event_hour)"
                )
        if self.dialect == "postgres":
            self.wh._run_file(cur, "raw_hashtags_event_hour")
        else:
            (empty,) = statements(load_sql("raw_tweet_ids_empty", self.dialect))
            cur.execute(empty)
            row = cur.fetchone()
            if row and row[0]:
                logger.warning("raw_tweet_ids is filled once from raw_tweets (an upgrade)")
                self.wh._run_file(cur, "raw_tweet_ids_fill")

    def _schema_lock(self, cur: Cursor) -> None:
        """Wait for any other process's schema check (PostgreSQL; see ``schema_lock.sql``)."""
        if self.dialect != "postgres":
            return
        try:
            self.wh._run_file(cur, "schema_lock")
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
        self.wh._run_file(cur, "schema_object_record", {"name": name, "sha": sha})

    def _replace_view(self, name: str, ddl: str, sha: str) -> None:
        """Replace the existing view with the definition ``sha`` names, unless readers
        hold it past ``VIEW_DDL_TIMEOUT_MS``: then keep the old one and warn."""
        timeout_ms = VIEW_DDL_TIMEOUT_MS[self.dialect]
        try:
            with self.wh.transaction() as cur:
                self._schema_lock(cur)
                present, recorded = self._view_state(cur, name)  # another process may have
                if present and recorded == sha:
                    return
                if present:
                    self.wh._run_file(cur, "view_ddl_timeout", {"ms": timeout_ms})
                    try:
                        # Dropped, not replaced: Redshift's CREATE OR REPLACE VIEW refuses a
                        # column whose type changed. Readers see the old view or the new
                        # one (one transaction), and the new one gets the reader's grant.
                        self.wh._run_file(cur, "view_drop", view=name)
                        cur.execute(ddl)
                    except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled) as e:
                        raise _ViewBusy(one_line(e)) from e
                    self.wh._run_file(cur, "view_ddl_timeout_end")
                    self.wh._run_file(cur, "schema_object_record", {"name": name, "sha": sha})
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
            self.wh._run_file(cur, "sum_columns_migrate")
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
