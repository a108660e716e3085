"""Running a query against the warehouse: one statement in a read-only transaction with
a statement timeout, its rows returned as a :class:`QueryResult`. Errors are one line
(``QueryError``), never the DSN."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from lambda_common.errors import QueryError
from lambda_common.render import QueryResult
from lambda_common.sql import load_sql, statements
from lambda_common.terminal import escape
from lambda_common.warehouse import Cursor, Warehouse
from serving_layer.catalogue import DEFAULT_QUERY, load_query
from serving_layer.guard import check_statement
from serving_layer.params import bind_params

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
"""The statement timeout of a query, unless ``--timeout`` says otherwise."""


@contextmanager
def read_only_transaction(warehouse: Warehouse, *, timeout_s: float) -> Iterator[Cursor]:
    """A cursor in a read-only transaction with a statement timeout, rolled back on error.

    psycopg2 opens the transaction with ``BEGIN READ ONLY`` (PostgreSQL and Redshift both
    take it); ``SET LOCAL statement_timeout`` lasts until the transaction ends on both, and
    on PostgreSQL ``standard_conforming_strings`` is set on for it, the reading
    :func:`check_statement` relies on (``query_transaction.sql``). The connection's own
    setting is put back afterwards, so a caller that goes on writing with the same
    :class:`Warehouse` can.
    """
    conn = warehouse.connection()
    previous = conn.readonly
    conn.readonly = True
    try:
        with warehouse.transaction() as cur:
            params = {"ms": max(1, round(timeout_s * 1000))}
            for statement in statements(load_sql("query_transaction", warehouse.dialect)):
                cur.execute(statement, params)
            yield cur
    finally:
        if not conn.closed:
            conn.readonly = previous


def run_query(
    warehouse: Warehouse,
    statement: str,
    params: Mapping[str, Any] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> QueryResult:
    """Run one read-only statement and return all its rows.

    ``params`` are bound psycopg2-style (``%(name)s``); with none, the text goes as it is
    (a ``%`` in it needs no doubling). Raises ``QueryError`` with a one-line message when
    the statement is refused (see :func:`check_statement`), fails in the warehouse (SQL
    error, attempted write, timeout), and ``ServiceUnavailable`` when the warehouse
    cannot be reached.
    """
    check_statement(statement, warehouse.dialect)
    started = time.monotonic()
    with read_only_transaction(warehouse, timeout_s=timeout_s) as cur:
        try:
            cur.execute(statement, dict(params) if params else None)
        except psycopg2.extensions.QueryCanceledError as e:
            raise QueryError(
                f"query cancelled after the {timeout_s:g} s statement timeout: {_describe(e)}"
            ) from e
        except psycopg2.OperationalError:
            raise  # the connection failed: the warehouse reports ServiceUnavailable
        except psycopg2.errors.UndefinedTable as e:
            raise QueryError(
                f"query failed: {_describe(e)}; the pipeline's tables and views are created "
                "by its first batch cycle or speed job (make batch-once, make speed, make demo)"
            ) from e
        except psycopg2.errors.InsufficientPrivilege as e:
            raise QueryError(
                f"query failed: {_describe(e)}; {warehouse.dsn.user} may only read the "
                "pipeline's tables and views (granted when the pipeline ensures its "
                "schema: make init)"
            ) from e
        except psycopg2.Error as e:
            raise QueryError(f"query failed: {_describe(e)}") from e
        except KeyError as e:
            raise QueryError(f"query failed: no value for parameter {e.args[0]!r}") from e
        columns = tuple(c.name for c in cur.description or ())
        rows = list(cur.fetchall()) if cur.description else []
    logger.debug(
        "query returned %d rows in %.0f ms", len(rows), (time.monotonic() - started) * 1000
    )
    return QueryResult(columns, rows)


def run_named(
    warehouse: Warehouse,
    name: str = DEFAULT_QUERY,
    given: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> QueryResult:
    """Load, bind and run the named query ``name`` (``given``: its parameters as text)."""
    query = load_query(name, warehouse.settings.views)
    values = bind_params(query, given or {}, now=now)
    logger.debug("running named query %s with %s", name, values)
    return run_query(warehouse, query.text, values, timeout_s=timeout_s)


def _describe(e: psycopg2.Error) -> str:
    """One line about a driver error: the server's message (and where), never the DSN."""
    diag = getattr(e, "diag", None)
    message = getattr(diag, "message_primary", None) or str(e).strip() or type(e).__name__
    first = message.strip().splitlines()[0] if message.strip() else type(e).__name__
    position = getattr(diag, "statement_position", None)
    return escape(first) + (f" (at character {position})" if position else "")
