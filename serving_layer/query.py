"""Read the serving views: a named query, or any read-only SQL (``make query``).

Named queries are ``serving_layer/queries/<name>.sql``, one SQL statement each over the
serving views (``serving_view``, ``serving_hashtags``, ``serving_languages``...), written
to run unchanged on PostgreSQL and Redshift. Each opens with
comment lines that describe it, one of which declares its parameters and their
defaults::

    -- params: location (required), hours=48

A parameter whose default is a whole number takes a positive whole number; a required
one takes text. Values are always bound (``%(name)s``), never formatted into the SQL.
Besides its own parameters a query may use two values the runner derives:

* ``%(now)s``: the current UTC time (a ``timestamp`` without time zone, like the views);
* ``%(since)s``: the start of the window its ``hours`` or ``days`` parameter sets: the
  current UTC hour (or day) and the ``hours - 1`` (``days - 1``) before it, with no upper
  bound (valid events may be up to an hour ahead of the clock).

A ``location``, ``hashtag`` or ``lang`` parameter is matched as the pipeline groups that
key (:mod:`lambda_common.contract`): ``" Paris "`` finds ``Paris``, ``"#Python "`` finds
``python``; a hashtag that normalises to nothing (``"#"``) is a usage error.

Everything runs as QUERY_DSN's user, which may only read the pipeline's tables and views,
in a read-only transaction (``BEGIN READ ONLY``, which both warehouses accept) with a
statement timeout, after a check that the text is one statement that starts like a query
(SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN): a write is refused with one line on
stderr and exit code 1. The check is a friendly first error; the reader's privileges are
what stop a text that slips past it from changing anything.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from lambda_common.cli import add_output_options, write_output
from lambda_common.errors import QueryUsageError
from lambda_common.render import render
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from serving_layer.catalogue import DEFAULT_QUERY, list_queries, load_query
from serving_layer.execute import DEFAULT_TIMEOUT_S, run_query
from serving_layer.params import bind_params, parse_param_pairs
from serving_layer.render import render_query_list

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--name",
        metavar="NAME",
        help=f"a named query (default: {DEFAULT_QUERY}); --list shows them",
    )
    which.add_argument("--sql", metavar="TEXT", help="one read-only SQL statement instead")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the named query (repeatable), e.g. --param hours=6",
    )
    add_output_options(parser, timeout_s=DEFAULT_TIMEOUT_S, what="statement timeout")
    parser.add_argument(
        "--list", action="store_true", help="list the named queries and their parameters"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the sub-command; returns its exit code (2: unknown query or bad parameter).

    Refusals and SQL errors raise ``QueryError``, which the command line prints as one
    ``error:`` line with exit code 1.
    """
    try:
        if args.list:
            return _write(
                render_query_list(
                    [load_query(n, settings.views) for n in list_queries(settings.views)],
                    args.format,
                )
            )
        params: dict[str, Any] = {}
        if args.sql is not None:
            if args.param:
                raise QueryUsageError("--param applies to named queries (--name), not to --sql")
            statement = args.sql
        else:
            query = load_query(args.name or DEFAULT_QUERY, settings.views)
            params = bind_params(query, parse_param_pairs(args.param))
            statement = query.text
            logger.debug("running named query %s with %s", query.name, params)
    except QueryUsageError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    # As QUERY_DSN's user: what the text does is bounded by the reader's privileges.
    with Warehouse(settings, role="reader") as warehouse:
        result = run_query(warehouse, statement, params, timeout_s=args.timeout)
    return _write(render(result, args.format))


def _write(text: str) -> int:
    write_output(text)
    return 0
