"""``make lake-query``: SQL over the master dataset in S3, in place, with DuckDB.

The tables are ``master_tweets`` and ``master_rejects`` of ``KAFKA_TOPIC``
(:mod:`batch_layer.lake.tables`), in DuckDB's SQL dialect; a few named examples live in
``batch_layer/lake/examples/<name>.sql`` (``--list``). Rows are printed as ``make query``
prints them (:mod:`lambda_common.render`).

Read-only by construction: the database is in memory and holds nothing but the two views;
the text must be one SELECT (DuckDB's own parser says which kind of statement it is, so
``COPY``, ``EXPLAIN ANALYZE`` or ``ATTACH`` are refused, whatever their spelling); and
before it runs, file access is limited to the topic's two folders in the bucket and
DuckDB's configuration is locked, so no local file, URL or other object can be read.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from functools import cache
from importlib import resources

import duckdb

from batch_layer.lake.engine import describe, fetch, lake_connection, load_lake_sql
from batch_layer.lake.tables import TABLES, create_tables
from lambda_common.cli import add_output_options, write_output
from lambda_common.errors import QueryError
from lambda_common.render import QueryResult, render, render_catalogue
from lambda_common.settings import Settings
from lambda_common.sql import statements

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0


class LakeUsageError(QueryError):
    """An unknown example name: the command exits with 2."""


def _examples() -> dict[str, str]:
    root = resources.files("batch_layer.lake") / "examples"
    return {
        item.name.removesuffix(".sql"): item.read_text(encoding="utf-8")
        for item in sorted(root.iterdir(), key=lambda t: t.name)
        if item.name.endswith(".sql")
    }


@cache
def examples() -> dict[str, tuple[str, str]]:
    """Every named example: name -> (description, SQL)."""
    found = {}
    for name, text in _examples().items():
        lines = text.splitlines()
        about = " ".join(line.lstrip("- ").strip() for line in lines if line.startswith("--"))
        found[name] = (about, text)
    return found


def example(name: str) -> str:
    """The SQL of the named example ``name``."""
    known = examples()
    if name not in known:
        raise LakeUsageError(f"no example named {name!r}; examples: {', '.join(known)}")
    return known[name][1]


def check_select(con: duckdb.DuckDBPyConnection, text: str) -> None:
    """``QueryError`` unless ``text`` is exactly one SELECT (``WITH``, ``FROM``-first,
    ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE`` are SELECTs to DuckDB too)."""
    try:
        found = con.extract_statements(text)
    except duckdb.Error as e:
        raise QueryError(f"query failed: {describe(e)}") from e
    if len(found) != 1:
        raise QueryError(f"give exactly one statement (got {len(found)})")
    kind = found[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(
            f"only a SELECT may run over the master dataset, not {kind.name}: it is read-only"
        )


def lock_down(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Only the topic's folders of the bucket readable from now on, and DuckDB's
    configuration locked so no statement can give any of that back."""
    roots = [t.root(settings.s3_bucket, settings.kafka_topic) for t in TABLES]
    for statement in statements(load_lake_sql("lock_down")):
        con.execute(statement, {"roots": roots} if "$roots" in statement else None)


def run_lake_query(settings: Settings, text: str, *, timeout_s: float) -> QueryResult:
    """Run one SELECT over ``master_tweets`` and ``master_rejects`` and return its rows;
    ``QueryError`` for a refused or failing text, or when it runs past ``timeout_s``."""
    where = settings.s3_endpoint_url or "AWS"
    with lake_connection(settings) as con:
        check_select(con, text)
        create_tables(con, settings)
        lock_down(con, settings)
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.start()
        try:
            return fetch(con, text, where=where)
        except QueryError as e:
            if not timer.is_alive():
                raise QueryError(f"query cancelled after {timeout_s:g} s: {e}") from e
            raise
        finally:
            timer.cancel()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sql", metavar="TEXT", help="one SELECT in DuckDB's SQL")
    which.add_argument("--name", metavar="NAME", help="a named example (--list shows them)")
    which.add_argument("--list", action="store_true", help="list the named examples")
    add_output_options(parser, timeout_s=DEFAULT_TIMEOUT_S, what="cancel the query after this long")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the sub-command; returns its exit code (2: an unknown example name)."""
    if args.list:
        entries = [(name, "", about) for name, (about, _) in examples().items()]
        write_output(render_catalogue(entries, args.format))
        return 0
    try:
        text = args.sql if args.sql is not None else example(args.name or "days")
        if not args.timeout > 0:
            raise LakeUsageError("--timeout must be a positive number of seconds")
    except LakeUsageError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    write_output(render(run_lake_query(settings, text, timeout_s=args.timeout), args.format))
    return 0
