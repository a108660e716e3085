"""The landed line: how a warehouse row's values are written in a master object, and read
back. The one place these rules live.

A master object line is a warehouse row (:func:`lambda_common.contract.rows.event_row`) plus the
event verbatim. Redshift's ``COPY ... FORMAT AS JSON 'auto'`` reads its values from S3;
the PostgreSQL load writes the same values as CSV (:func:`lambda_common.contract.rows.csv_values`).
Every valid event must reach both warehouses exactly, so:

- **Integer columns** (the three counts, up to 2^63 - 1, and the Kafka partition and
  offset) are JSON *strings* of ASCII decimal digits, never JSON numbers. Amazon's "COPY
  from JSON format" warns that numbers in JSON may lose precision on their way into a
  numeric column, and recommends enclosing them in double quotation marks instead.
- **Timestamps** (``created_at``, ``event_hour``) are UTC, ``YYYY-MM-DD HH:MM:SS`` with
  six fractional digits for ``created_at``, and the year always four digits, zero-padded:
  the form COPY's TIMEFORMAT ``'YYYY-MM-DD HH:MI:SS'`` matches (seconds take a fraction
  to the microsecond). glibc's ``strftime('%Y')`` writes year 999 as ``999`` and year 1 as
  ``1``, which PostgreSQL reads as 2001.

Reading (:func:`decode_row`) accepts what every version wrote: bare JSON integers and
unpadded years (before this rule), and the current form; it refuses anything else (a
count as ``"1e3"``, ``" 1"``, ``"+1"``, ``"٣"``, ``true``, out of range), since a master
object holding it was not written by this pipeline.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

INT_COLUMNS = (
    "followers_count",
    "favorite_count",
    "retweet_count",
    "kafka_partition",
    "kafka_offset",
)
"""The row's integer columns: JSON strings in a landed line (see the module's doc)."""

TIMESTAMP_COLUMNS = ("created_at", "event_hour")
"""The row's timestamp columns: text with a four-digit year."""

_INT_LIMIT = 2**63
# Canonical decimal text of 0 <= n < 10**19, ASCII only: str.isdigit() and int() would
# also take other scripts' digits, underscores, signs and surrounding white space.
_DIGITS = re.compile(r"0|[1-9][0-9]{0,18}")
# What strftime wrote before years were padded: a year of one to four digits.
_STAMP = re.compile(r"([0-9]{1,4})(-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?)")


# len("2026-11-21T10:15:30.123Z"): created_at as Event.to_dict writes a whole millisecond.
_MILLIS_CHARS = 24


class LandedLineError(ValueError):
    """A master object line whose value no version of the pipeline writes."""


def stamp_and_hour(moment: datetime) -> tuple[str, str]:
    """``created_at`` and ``event_hour`` of a row, as text: ``0999-01-02 03:04:05.000000``
    and ``0999-01-02 03:00:00`` (the time in UTC; any UTC offset is not written)."""
    # isoformat (C) pads the year to four digits at every year, unlike strftime.
    stamp = moment.isoformat(" ", "microseconds")[:26]
    return stamp, stamp[:13] + ":00:00"


def stamp_and_hour_of(created_at: str, moment: datetime) -> tuple[str, str]:
    """:func:`stamp_and_hour` of ``moment``, where ``created_at`` is that time as
    ``Event.to_dict`` writes it: read off the text when it has milliseconds
    (``2026-11-21T10:15:30.123Z`` holds every digit of the stamp but its three zeros),
    else from ``moment``. The same text either way (tests/unit/test_landing_equivalence.py)."""
    if len(created_at) == _MILLIS_CHARS:
        stamp = f"{created_at[:10]} {created_at[11:23]}000"
        return stamp, stamp[:13] + ":00:00"
    return stamp_and_hour(moment)


def encode_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row as a landed line holds it: a copy with each integer column as its decimal
    text. ``ValueError`` on an integer column that is not an int in 0..2^63-1."""
    line = dict(row)
    for name in INT_COLUMNS:
        value = row[name]
        if type(value) is not int or not 0 <= value < _INT_LIMIT:
            raise ValueError(f"row column {name!r} must be an integer 0 to 2^63-1")
        line[name] = str(value)
    return line


def decode_row(line: dict[str, Any]) -> dict[str, Any]:
    """A landed line's row with Python values: a copy with each integer column an int and
    each timestamp with its four-digit year, whichever version wrote it.
    ``LandedLineError`` on a value no version writes."""
    row = dict(line)
    for name in INT_COLUMNS:
        row[name] = _integer(name, line[name])
    for name in TIMESTAMP_COLUMNS:
        row[name] = _timestamp(name, line[name])
    return row


def is_current(line: dict[str, Any]) -> bool:
    """Whether a master object line is in this version's form (an object is written by one
    version, so its first line tells for all of them): with the ``hashtags`` key, and
    every integer column as text."""
    return "hashtags" in line and all(type(line.get(n)) is str for n in INT_COLUMNS)


def _integer(name: str, value: object) -> int:
    # bool is an int in Python, but JSON true is no count.
    if type(value) is int:
        number = value
    elif type(value) is str and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise LandedLineError(f"landed column {name!r} is not an integer: {_echo(value)}")
    if not 0 <= number < _INT_LIMIT:
        raise LandedLineError(f"landed column {name!r} is out of 0..2^63-1: {_echo(value)}")
    return number


def _timestamp(name: str, value: object) -> str:
    match = _STAMP.fullmatch(value) if type(value) is str else None
    if match is None:
        raise LandedLineError(f"landed column {name!r} is not a timestamp: {_echo(value)}")
    return match[1].zfill(4) + match[2]


def _echo(value: object) -> str:
    """A value in an error line: short, one line."""
    return repr(value)[:40]
