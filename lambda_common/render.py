"""A query's rows as text for people and scripts: an aligned table, CSV or JSON.

One renderer for every command that prints rows (``make query`` over the warehouse,
``make lake-query`` over the master dataset in S3), so both print alike.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Any, Literal

from lambda_common.terminal import cut, escape, width

FORMATS = ("table", "csv", "json")
Format = Literal["table", "csv", "json"]

CELL_WIDTH = 40
"""Text wider than this (in terminal columns) is cut with an ellipsis in ``table`` output."""


@dataclass(frozen=True)
class QueryResult:
    """What a query returned: column names and rows of Python values (as the database
    driver gives them: ``int``, ``Decimal``, ``str``, ``datetime``, ``date``, ``None``...)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


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
    return cut(escape(_plain(value)), CELL_WIDTH)


def _plain(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)


def _render_table(result: QueryResult) -> str:
    headers = [escape(c) for c in result.columns]
    cells = [[_table_cell(v) for v in row] for row in result.rows]
    numeric = [
        all(row[i] is None or _is_number(row[i]) for row in result.rows) and bool(result.rows)
        for i in range(len(headers))
    ]
    widths = [max([width(h)] + [width(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, text in enumerate(values):
            pad = " " * (widths[i] - width(text))
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


def render_catalogue(entries: Sequence[tuple[str, str, str]], fmt: str = "table") -> str:
    """A list of named queries as ``(name, params, description)``: each name with its
    parameters and its description wrapped under it (``table``), or those three columns
    as CSV or JSON."""
    if fmt != "table":
        return render(QueryResult(("name", "params", "description"), list(entries)), fmt)
    blocks = []
    for name, params, description in entries:
        wrapped = textwrap.fill(
            description, width=88, initial_indent="    ", subsequent_indent="    "
        )
        blocks.append(f"{name}  ({params or 'no parameters'})\n{wrapped}")
    return "\n".join(blocks) + "\n"
