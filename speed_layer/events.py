"""One micro-batch's new, de-duplicated events as the warehouse stages them: Arrow columns
on the driver, and their rows as SQL literals built column by column in Arrow's C++.

The speed job collects each micro-batch's events once (one Spark job); every view's own
SELECT then aggregates them in the warehouse (:mod:`speed_layer.view`). What is sent is
the relation ``tweets`` (:data:`lambda_common.views.RELATIONS`) and each event's distinct
hashtag keys, both staged by multi-row INSERTs: a row's literal costs a few hundred
nanoseconds here, against ten microseconds and more for psycopg2's ``mogrify`` of it,
which stays the way whenever the server does not take standard strings (see
:func:`value_rows`). On PostgreSQL the rows go in by ``COPY ... FROM STDIN`` instead
(:func:`csv_bytes`: a multi-row VALUES list costs its parser ~10 µs a row there, COPY a
tenth of it); Redshift has no COPY from the client, and takes the INSERT.
``tests/integration/test_speed_events.py`` proves every way stages the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lambda_common.views import HOUR, RELATIONS

if TYPE_CHECKING:
    import pyarrow as pa

TWEET_COLUMNS = RELATIONS["tweets"]
"""The staged events' columns, in order: ``event_hour`` as epoch seconds (no time zone of
a JVM or Python shifts it), the counts as int64."""

PLACE_COLUMNS = ("kafka_partition", "kafka_offset")
"""An event's place in the topic: the warehouse's de-duplication keeps the first copy."""

STAGED_COLUMNS = (*TWEET_COLUMNS, *PLACE_COLUMNS)
"""The staged events' columns, in order."""

HASHTAG_COLUMNS = (*PLACE_COLUMNS, "hashtag")
"""The staged hashtags' columns: one row per event (by its place) and distinct key."""

_TEXT = ("tweet_id", "location", "lang", "user_id", "hashtag")


@dataclass(frozen=True)
class StagedEvents:
    """A micro-batch's valid events, copies included (``tweets``,
    :data:`STAGED_COLUMNS`), and their hashtag keys (``hashtags``,
    :data:`HASHTAG_COLUMNS`)."""

    tweets: pa.Table
    hashtags: pa.Table

    def __len__(self) -> int:
        return int(self.tweets.num_rows)

    def newest(self) -> datetime | None:
        """The newest event hour among them (a naive UTC datetime), None without any:
        what moves the de-duplication's clock, copies and late events included (as
        Spark's watermark counted every row it saw)."""
        import pyarrow.compute as pc

        newest = pc.max(self.tweets.column(HOUR)).as_py()
        return None if newest is None else datetime.fromtimestamp(newest, UTC).replace(tzinfo=None)


def from_arrow(table: pa.Table) -> StagedEvents:
    """The staged form of the collected events: :data:`STAGED_COLUMNS` and ``hashtags``
    (a list of the event's distinct keys), one row per event."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tags = table.column("hashtags")
    owners = pc.list_parent_indices(tags)
    hashtags = pa.table(
        {
            **{c: table.column(c).take(owners) for c in PLACE_COLUMNS},
            "hashtag": pc.list_flatten(tags),
        }
    )
    return StagedEvents(table.select(list(STAGED_COLUMNS)), hashtags)


def from_rows(rows: Iterable[Sequence[Any]]) -> StagedEvents:
    """Events given as tuples (:data:`TWEET_COLUMNS` with ``event_hour`` a naive UTC
    datetime, then the list of hashtag keys, then optionally the partition and offset;
    without them, partition 0 and the tuple's index): for tests and callers without
    Spark."""
    import pyarrow as pa

    listed = [
        (*r, 0, i) if len(r) == len(TWEET_COLUMNS) + 1 else tuple(r) for i, r in enumerate(rows)
    ]
    columns: dict[str, Any] = {}
    for i, name in enumerate((*TWEET_COLUMNS, "hashtags", *PLACE_COLUMNS)):
        values = [r[i] for r in listed]
        if name == HOUR:
            values = [int(v.replace(tzinfo=UTC).timestamp()) for v in values]
        columns[name] = values
    schema = pa.schema(
        [pa.field(n, pa.string() if n in _TEXT else pa.int64()) for n in TWEET_COLUMNS]
        + [pa.field("hashtags", pa.list_(pa.string()))]
        + [pa.field(n, pa.int64()) for n in PLACE_COLUMNS]
    )
    return from_arrow(pa.table(columns, schema=schema))


def python_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """The table's rows as Python values (``event_hour`` a naive UTC datetime), for
    psycopg2 to quote: the way when :func:`value_rows` cannot be used."""
    columns = [table.column(n).to_pylist() for n in table.column_names]
    if HOUR in table.column_names:
        hour = table.column_names.index(HOUR)
        columns[hour] = [datetime.fromtimestamp(v, UTC).replace(tzinfo=None) for v in columns[hour]]
    return list(zip(*columns, strict=True))


def value_rows(table: pa.Table) -> list[str]:
    """Each row of ``table`` as a VALUES list item, ``('…',…)``, for a server with
    ``standard_conforming_strings`` on (PostgreSQL's default since 9.1): there a quote is
    doubled and nothing else in a string literal is special (NUL never reaches here:
    the parse step replaces it). ``event_hour`` becomes ``'YYYY-MM-DD HH:MM:SS'``, which
    the column's type reads as that timestamp; integers their decimal digits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    literals = []
    for name in table.column_names:
        column = table.column(name)
        if name == HOUR:
            text = pc.strftime(pc.cast(column, pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
            literal = _quoted(text)
        elif name in _TEXT:
            literal = _quoted(column)
        else:
            literal = pc.cast(column, pa.string())
        literals.append(pc.fill_null(literal, "NULL"))
    rows = pc.binary_join_element_wise("(", pc.binary_join_element_wise(*literals, ","), ")", "")
    return rows.to_pylist()  # type: ignore[no-any-return]


def csv_bytes(table: pa.Table) -> bytes:
    """``table`` as CSV for PostgreSQL's ``COPY ... FROM STDIN (FORMAT csv)``, written by
    Arrow's C++ writer: every value quoted (a quote doubled; a backslash, a comma or a
    line break inside quotes is itself in CSV), no header, ``event_hour`` as
    ``YYYY-MM-DD HH:MM:SS``."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if HOUR in table.column_names:
        hour = table.column_names.index(HOUR)
        table = table.set_column(hour, HOUR, table.column(HOUR).cast(pa.timestamp("s")))
    out = io.BytesIO()
    options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
    pa_csv.write_csv(table, out, options)
    return out.getvalue()


def _quoted(column: Any) -> Any:
    import pyarrow.compute as pc

    return pc.binary_join_element_wise("'", pc.replace_substring(column, "'", "''"), "'", "")
