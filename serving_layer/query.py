"""Read the serving view: a named query, or any read-only SQL (``make query``).

Named queries are ``serving_layer/queries/<name>.sql``, one SQL statement each over
``serving_view``, written to run unchanged on PostgreSQL and Redshift. Each opens with
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

A ``location`` parameter is matched as the pipeline groups locations
(:func:`lambda_common.contract.normalize_location`): ``" Paris "`` finds ``Paris``.

Everything runs in a read-only transaction (``BEGIN READ ONLY``, which both warehouses
accept) with a statement timeout, after a check that the text is one statement that
starts like a query (SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN): a write is refused
with one line on stderr and exit code 1. This stops writes to tables, not every side
effect a superuser's function call can have: give the query command a read-only database
user in production.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import re
import sys
import textwrap
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from itertools import product
from typing import Any, Literal

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from lambda_common.contract import normalize_location
from lambda_common.errors import QueryError
from lambda_common.rows import warehouse_text
from lambda_common.settings import Settings
from lambda_common.warehouse import Cursor, Warehouse

logger = logging.getLogger(__name__)

DEFAULT_QUERY = "latest"
"""What ``python -m serving_layer query`` runs with neither ``--name`` nor ``--sql``."""

FORMATS = ("table", "csv", "json")
Format = Literal["table", "csv", "json"]

DEFAULT_TIMEOUT_S = 60.0
"""The statement timeout of a query, unless ``--timeout`` says otherwise."""

MAX_INT_PARAM = 2**31 - 1
"""Largest value of a whole-number parameter (fits a 32-bit integer on either warehouse)."""

CELL_WIDTH = 40
"""Text wider than this (in terminal columns) is cut with an ellipsis in ``table`` output."""

READ_ONLY_KEYWORDS = ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN")
"""How a statement ``--sql`` accepts may begin (the transaction is read-only as well)."""

DERIVED = ("now", "since")
"""Values the runner binds for every named query besides its declared parameters."""

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_PARAM = re.compile(r"(?P<name>[a-z_][a-z0-9_]*)\s*(?:=\s*(?P<default>.*?)|\(\s*required\s*\))\Z")


class QueryUsageError(QueryError):
    """The command line asked for something that cannot run: an unknown query name, an
    unknown, missing or invalid parameter. The CLI exits with 2 for these."""


# Named queries ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueryParam:
    """One declared parameter of a named query."""

    name: str
    default: int | str | None
    """The value when not given; ``None`` when the parameter is required."""
    kind: Literal["int", "text"]

    @property
    def required(self) -> bool:
        """Whether the caller must give a value."""
        return self.default is None

    def describe(self) -> str:
        """``limit=20`` or ``location (required)``, as in the header line."""
        return f"{self.name} (required)" if self.default is None else f"{self.name}={self.default}"


@dataclass(frozen=True)
class NamedQuery:
    """A named query as shipped: its name, what it shows, its parameters and its SQL."""

    name: str
    description: str
    params: tuple[QueryParam, ...]
    text: str

    @property
    def defaults(self) -> dict[str, int | str | None]:
        """Parameter name -> default (``None`` for a required parameter)."""
        return {p.name: p.default for p in self.params}

    def describe_params(self) -> str:
        """The parameters as the header declares them, e.g. ``hours=24, limit=10``."""
        return ", ".join(p.describe() for p in self.params)


def _queries_root() -> Traversable:
    return resources.files("serving_layer").joinpath("queries")


def list_queries() -> list[str]:
    """The names of the shipped named queries, sorted."""
    return sorted(
        entry.name.removesuffix(".sql")
        for entry in _queries_root().iterdir()
        if entry.name.endswith(".sql") and _NAME.match(entry.name.removesuffix(".sql"))
    )


@cache
def load_query(name: str) -> NamedQuery:
    """The named query ``name``, its header parsed.

    Raises ``QueryUsageError`` (listing the names there are) for an unknown name.
    """
    if not _NAME.match(name) or name not in list_queries():
        raise QueryUsageError(f"unknown query {name!r}; named queries: {', '.join(list_queries())}")
    text = _queries_root().joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return parse_query_text(name, text)


def parse_query_text(name: str, text: str) -> NamedQuery:
    """Build a :class:`NamedQuery` from a file's text: the leading ``--`` comment lines
    are its description, except the one ``-- params: ...`` line (none, or an empty or
    ``none`` list: no parameters)."""
    description: list[str] = []
    params: tuple[QueryParam, ...] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        comment = stripped[2:].strip()
        if comment.lower().startswith("params:"):
            if params is not None:
                raise ValueError(f"query {name}: more than one '-- params:' line")
            params = _parse_params_line(name, comment[len("params:") :])
        elif comment:
            description.append(comment)
    if not description:
        raise ValueError(f"query {name}: no description in its header")
    return NamedQuery(name, " ".join(description), params or (), text)


def _parse_params_line(name: str, spec: str) -> tuple[QueryParam, ...]:
    params: list[QueryParam] = []
    if spec.strip().lower() == "none":
        return ()
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        match = _PARAM.match(item)
        if match is None:
            raise ValueError(f"query {name}: cannot read parameter {item!r}")
        param_name, default = match["name"], match["default"]
        if param_name in DERIVED or any(p.name == param_name for p in params):
            raise ValueError(f"query {name}: parameter {param_name!r} is reserved or repeated")
        if default is None:
            params.append(QueryParam(param_name, None, "text"))
        elif default.isdigit():
            params.append(QueryParam(param_name, _positive_int(param_name, default), "int"))
        else:
            params.append(QueryParam(param_name, default, "text"))
    names = {p.name for p in params}
    if {"hours", "days"} <= names:
        raise ValueError(f"query {name}: declares both hours and days; which sets since?")
    for window in ("hours", "days"):
        if window in names and next(p for p in params if p.name == window).kind != "int":
            raise ValueError(f"query {name}: {window} must default to a whole number")
    return tuple(params)


def _positive_int(name: str, text: str) -> int:
    value = text.strip()
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_INT_PARAM:
        return int(value)
    raise QueryUsageError(
        f"parameter {name} must be a whole number from 1 to {MAX_INT_PARAM}, got {text[:40]!r}"
    )


# Parameters -------------------------------------------------------------------------


def parse_param_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["hours=24", "location=Paris"]`` -> ``{"hours": "24", "location": "Paris"}``.

    Only the first ``=`` separates, so a value may hold more. A pair without ``=`` or a
    name given twice raises ``QueryUsageError``.
    """
    given: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise QueryUsageError(f"--param expects NAME=VALUE, got {pair[:60]!r}")
        if key in given:
            raise QueryUsageError(f"parameter {key} is given twice")
        given[key] = value
    return given


def utc_now() -> datetime:
    """The current time in UTC, without time zone (how the views store time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def bind_params(
    query: NamedQuery, given: Mapping[str, str], *, now: datetime | None = None
) -> dict[str, Any]:
    """The values to bind for ``query``: its parameters (``given`` over the defaults,
    validated) plus the derived ``now`` and ``since`` (see the module's description).

    Raises ``QueryUsageError`` for an unknown name, a missing required parameter or a
    value that is not a positive whole number where one is expected; the message names
    the query's parameters.
    """
    declared = {p.name: p for p in query.params}
    spec = query.describe_params() or "none"
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise QueryUsageError(
            f"query {query.name} has no parameter {unknown[0]!r}; its parameters: {spec}"
        )
    values: dict[str, Any] = {}
    for param in query.params:
        raw = given.get(param.name)
        if raw is None:
            if param.required:
                raise QueryUsageError(
                    f"query {query.name} needs --param {param.name}=VALUE; its parameters: {spec}"
                )
            values[param.name] = param.default
        elif param.kind == "int":
            values[param.name] = _positive_int(param.name, raw)
        else:
            values[param.name] = raw
        if param.name == "location":
            values["location"] = warehouse_text(normalize_location(values["location"]))
    now = utc_now() if now is None else now
    values["now"] = now
    values["since"] = _window_start(now, values.get("hours"), values.get("days"))
    return values


def _window_start(now: datetime, hours: int | None, days: int | None) -> datetime | None:
    try:
        if hours is not None:
            return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
        if days is not None:
            return datetime(now.year, now.month, now.day) - timedelta(days=days - 1)
    except OverflowError:
        return datetime.min  # a window reaching back before year 1: everything
    return None


# Read-only execution ----------------------------------------------------------------


@dataclass(frozen=True)
class QueryResult:
    """What a query returned: column names and rows of Python values (as psycopg2
    gives them: ``int``, ``Decimal``, ``str``, ``datetime``, ``date``, ``None``...)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def _code_only(text: str, *, backslash: bool, nested: bool, dollar: bool) -> str:
    """``text`` with string literals, quoted identifiers and comments blanked out.

    The flags pick one reading of the lexical rules where PostgreSQL settings and
    Redshift differ (backslash escapes in strings, nested block comments, dollar
    quoting); :func:`check_statement` tries every reading.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        start = i
        if c in "'\"":
            i += 1
            while i < n:
                if backslash and c == "'" and text[i] == "\\":
                    i += 2
                elif text[i] == c:
                    if text.startswith(c * 2, i):
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if nested and text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif dollar and c == "$" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_$")):
            match = _DOLLAR_TAG.match(text, i)
            if match is None:
                i += 1
                out.append(c)
                continue
            end = text.find(match.group(), match.end())
            i = n if end < 0 else end + len(match.group())
        else:
            i += 1
            out.append(c)
            continue
        out.append(" " * (min(i, n) - start))
    return "".join(out)


def check_statement(statement: str) -> None:
    """Refuse (``QueryError``) anything but one statement that reads.

    The text must be a single statement (a trailing ``;`` is fine) beginning with one of
    :data:`READ_ONLY_KEYWORDS`, under every reading of the lexical rules the two
    warehouses could apply: ``SELECT 1; COMMIT; DELETE ...`` would otherwise run its
    ``DELETE`` after the read-only transaction ended.
    """
    for backslash, nested, dollar in product((False, True), repeat=3):
        code = _code_only(statement, backslash=backslash, nested=nested, dollar=dollar)
        body = code.rstrip(" \t\r\n\f\v;")
        if ";" in body:
            raise QueryError("only one SQL statement at a time is accepted")
        match = re.match(r"[\s(]*([A-Za-z_]+)", body)
        if match is None:
            raise QueryError("the SQL text holds no statement")
        keyword = match.group(1).upper()
        if keyword not in READ_ONLY_KEYWORDS:
            raise QueryError(
                f"only read-only queries are accepted ({', '.join(READ_ONLY_KEYWORDS)}), "
                f"not {keyword}"
            )


@contextmanager
def read_only_transaction(warehouse: Warehouse, *, timeout_s: float) -> Iterator[Cursor]:
    """A cursor in a read-only transaction with a statement timeout, rolled back on error.

    psycopg2 opens the transaction with ``BEGIN READ ONLY`` (PostgreSQL and Redshift both
    take it); ``SET LOCAL statement_timeout`` lasts until the transaction ends on both.
    The connection's own setting is put back afterwards, so a caller that goes on writing
    with the same :class:`Warehouse` can.
    """
    conn = warehouse.connection()
    previous = conn.readonly
    conn.readonly = True
    try:
        with warehouse.transaction() as cur:
            cur.execute("SET LOCAL statement_timeout = %s", (max(1, round(timeout_s * 1000)),))
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
    check_statement(statement)
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
    query = load_query(name)
    values = bind_params(query, given or {}, now=now)
    logger.debug("running named query %s with %s", name, values)
    return run_query(warehouse, query.text, values, timeout_s=timeout_s)


def _describe(e: psycopg2.Error) -> str:
    """One line about a driver error: the server's message (and where), never the DSN."""
    diag = getattr(e, "diag", None)
    message = getattr(diag, "message_primary", None) or str(e).strip() or type(e).__name__
    first = message.strip().splitlines()[0] if message.strip() else type(e).__name__
    position = getattr(diag, "statement_position", None)
    return _escape(first) + (f" (at character {position})" if position else "")


# Output -----------------------------------------------------------------------------

_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(text: str) -> str:
    """Control characters (and line separators, bidi controls) written as escapes."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _width(text: str) -> int:
    """Terminal columns ``text`` takes (wide East Asian characters and emoji count 2)."""
    if text.isascii():
        return len(text)
    return sum(_char_width(ch) for ch in text)


def _cut(text: str, limit: int) -> str:
    if _width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > limit - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _integral(value: Decimal) -> bool:
    return value.is_finite() and value == value.to_integral_value()


def _timestamp(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _table_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if _integral(value):
            return f"{int(value):,}"
        return f"{value:,}" if value.is_finite() else str(value)
    if isinstance(value, int | float):
        return f"{value:,}"
    if isinstance(value, datetime):
        v = _timestamp(value)
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}"
    if isinstance(value, date):
        return value.isoformat()
    return _cut(_escape(_plain(value)), CELL_WIDTH)


def _plain(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)


def _render_table(result: QueryResult) -> str:
    headers = [_escape(c) for c in result.columns]
    cells = [[_table_cell(v) for v in row] for row in result.rows]
    numeric = [
        all(row[i] is None or _is_number(row[i]) for row in result.rows) and bool(result.rows)
        for i in range(len(headers))
    ]
    widths = [max([_width(h)] + [_width(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, text in enumerate(values):
            pad = " " * (widths[i] - _width(text))
            parts.append(pad + text if numeric[i] else text + pad)
        return "  ".join(parts).rstrip()

    lines = [line(headers), "  ".join("-" * w for w in widths)]
    lines.extend(line(row) for row in cells)
    count = len(result.rows)
    lines.append(f"({count:,} {'row' if count == 1 else 'rows'})")
    return "\n".join(lines) + "\n"


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal) and _integral(value):
        return int(value)
    if isinstance(value, datetime):
        return _timestamp(value).isoformat(" ")
    if isinstance(value, bytes | bytearray | memoryview):
        return _plain(value)
    return value


def _render_csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_csv_value(v) for v in row] for row in result.rows)
    return buffer.getvalue()


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if _integral(value):
            return int(value)
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | clock_time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return _plain(value)


def _unique_keys(columns: Sequence[str]) -> list[str]:
    """Column names as JSON keys: a repeated name gets ``_2``, ``_3``... appended."""
    keys: list[str] = []
    for column in columns:
        key, n = column, 1
        while key in keys:
            n += 1
            key = f"{column}_{n}"
        keys.append(key)
    return keys


def _render_json(result: QueryResult) -> str:
    keys = _unique_keys(result.columns)
    objects = [{k: _json_value(v) for k, v in zip(keys, row, strict=True)} for row in result.rows]
    return json.dumps(objects, ensure_ascii=False, indent=2) + "\n"


def render(result: QueryResult, fmt: str = "table") -> str:
    """``result`` as text, ending with a newline.

    * ``table``: aligned columns under a header and a rule, numbers right-aligned with
      thousands separators, timestamps as ``YYYY-MM-DD HH:MM`` (UTC), text with control
      characters escaped (``\\n``, ``\\t``) and cut at :data:`CELL_WIDTH` columns with
      ``…``, then ``(N rows)``. For reading, not parsing.
    * ``csv``: a header and the rows (``csv`` module quoting), values verbatim, NULL empty.
    * ``json``: an array of objects; timestamps ISO 8601, integral decimals as integers.
    """
    if fmt == "table":
        return _render_table(result)
    if fmt == "csv":
        return _render_csv(result)
    if fmt == "json":
        return _render_json(result)
    raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")


def render_query_list(queries: Sequence[NamedQuery], fmt: str = "table") -> str:
    """The named queries, their parameters and descriptions (``--list``)."""
    if fmt != "table":
        return render(
            QueryResult(
                ("name", "params", "description"),
                [(q.name, q.describe_params(), q.description) for q in queries],
            ),
            fmt,
        )
    blocks = []
    for q in queries:
        wrapped = textwrap.fill(
            q.description, width=88, initial_indent="    ", subsequent_indent="    "
        )
        blocks.append(f"{q.name}  ({q.describe_params() or 'no parameters'})\n{wrapped}")
    return "\n".join(blocks) + "\n"


# Command line -----------------------------------------------------------------------


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


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
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"statement timeout (default: {DEFAULT_TIMEOUT_S:g})",
    )
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
            return _write(render_query_list([load_query(n) for n in list_queries()], args.format))
        params: dict[str, Any] = {}
        if args.sql is not None:
            if args.param:
                raise QueryUsageError("--param applies to named queries (--name), not to --sql")
            statement = args.sql
        else:
            query = load_query(args.name or DEFAULT_QUERY)
            params = bind_params(query, parse_param_pairs(args.param))
            statement = query.text
            logger.debug("running named query %s with %s", query.name, params)
    except QueryUsageError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    with Warehouse(settings) as warehouse:
        result = run_query(warehouse, statement, params, timeout_s=args.timeout)
    return _write(render(result, args.format))


def _write(text: str) -> int:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (``| head``) went away: not an error. Point stdout at /dev/null so
        # the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0
