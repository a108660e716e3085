"""The speed layer's view of Kafka messages: pure Python (and Arrow), no Spark needed to test it.

Spark hands the messages over in Arrow record batches (``mapInArrow``):
:func:`parse_batches` turns each into a record batch of :class:`Parsed` columns, calling
:func:`parse_message` on every message. Arrow moves the columns between the JVM and
Python with no per-row (un)pickling on either side. :func:`parse_message` decides validity with
the same :func:`lambda_common.contract.parse_event` the batch layer uses, and builds the
grouping keys (location, lang, the hashtag keys) with the same :mod:`lambda_common.contract.rows`
helpers, so the two layers cannot disagree on what an event is or where it counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from lambda_common.contract import (
    Event,
    normalize_lang,
    normalize_location,
    parse_event,
    plain_struct,
)
from lambda_common.contract.rows import _warehouse_hashtags, hashtag_keys, warehouse_text

if TYPE_CHECKING:
    import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Parsed(NamedTuple):
    """One message as the stream sees it: a valid event's fields, or a reject reason.

    Times are integers (seconds / microseconds since the epoch, UTC) so no time zone of
    any JVM or Python worker can shift them on the way into Spark.
    """

    tweet_id: str | None
    event_hour_s: int | None
    created_at_us: int | None
    location: str | None
    lang: str | None
    user_id: str | None
    hashtags: list[str] | None
    followers_count: int | None
    favorite_count: int | None
    retweet_count: int | None
    reject: str | None


# The parsed columns, as Spark DDL; the order and names follow ``Parsed``.
PARSED_DDL = (
    "tweet_id string, event_hour_s bigint, created_at_us bigint, location string, "
    "lang string, user_id string, hashtags array<string>, "
    "followers_count bigint, favorite_count bigint, retweet_count bigint, reject string"
)

INPUT_COLUMNS = ("value", "read_at_us", "partition", "offset")
"""The columns :func:`parse_batches` reads: the message value, the micro-batch's clock
(``parse_message``'s ``read_at_us``) and the message's place, passed through."""

PARSED_BATCH_DDL = f"{PARSED_DDL}, partition int, offset bigint"
"""The schema of :func:`parse_batches`' output: ``Parsed``, then the message's place."""


def parse_message(value: bytes | bytearray | None, read_at_us: int) -> Parsed:
    """Parse one message value as read at ``read_at_us`` (the micro-batch's clock).

    The clock is Spark's ``current_timestamp()``, fixed per micro-batch and recorded in
    the checkpoint, so a replayed micro-batch judges "too far in the future" exactly as
    the first attempt did. Never raises.
    """
    return _parse_at(value, _clock(read_at_us))


def _clock(read_at_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=read_at_us)


_MICROSECOND = timedelta(microseconds=1)
_HOUR_US = 3600 * 1_000_000
_REJECTED = Parsed(*(None,) * len(Parsed._fields))


def _parse_at(value: bytes | bytearray | None, now: datetime) -> Parsed:
    """The contract's fast path first, its Struct read as it is (no Event made): a
    plainly valid event, the common case. Anything it declines goes the full way
    (:func:`_parse_full`), which decides and names the reason, so every reject and
    reason stays as it was (tests/unit/test_speed_parse.py proves the two ways equal)."""
    if value is None:
        return _parse_full(value, now)
    raw = bytes(value)
    checked = plain_struct(raw, now=now)
    if checked is None:
        return _parse_full(raw, now)
    plain, when = checked
    created_us = (when - _EPOCH) // _MICROSECOND
    # What _parse_full reads from the Event made of this Struct (contract._struct_event:
    # its fields as they are, hashtags () when absent), computed from the Struct itself.
    return Parsed(
        tweet_id=plain.tweet_id,
        event_hour_s=created_us // _HOUR_US * 3600,
        created_at_us=created_us,
        location=warehouse_text(normalize_location(plain.location)),
        lang=warehouse_text(normalize_lang(plain.lang)),
        user_id=warehouse_text(plain.user_id),
        hashtags=_warehouse_hashtags(plain.hashtags) if plain.hashtags else [],
        followers_count=plain.followers_count,
        favorite_count=plain.favorite_count,
        retweet_count=plain.retweet_count,
        reject=None,
    )


def _parse_full(value: bytes | bytearray | None, now: datetime) -> Parsed:
    """The contract's whole way: an Event, or a Rejection with its reason."""
    result = parse_event(bytes(value) if value is not None else None, now=now)
    if not isinstance(result, Event):
        return _REJECTED._replace(reject=result.reason)
    # Whole microseconds since the epoch, exactly (created_at is aware, in UTC); its hour
    # is the same count floored to a multiple of an hour (event_hour, as epoch seconds).
    created_us = (result.created_at - _EPOCH) // _MICROSECOND
    return Parsed(
        tweet_id=result.tweet_id,
        event_hour_s=created_us // _HOUR_US * 3600,
        created_at_us=created_us,
        location=warehouse_text(result.location_key),
        lang=warehouse_text(result.lang_key),
        user_id=warehouse_text(result.user_id),
        hashtags=hashtag_keys(result),
        followers_count=result.followers_count,
        favorite_count=result.favorite_count,
        retweet_count=result.retweet_count,
        reject=None,
    )


def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    text, integer = pa.string(), pa.int64()
    types = {
        "event_hour_s": integer,
        "created_at_us": integer,
        "hashtags": pa.list_(text),
        "followers_count": integer,
        "favorite_count": integer,
        "retweet_count": integer,
    }
    fields = [pa.field(name, types.get(name, text)) for name in Parsed._fields]
    return pa.schema([*fields, pa.field("partition", pa.int32()), pa.field("offset", integer)])


def parse_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` target: each record batch of :data:`INPUT_COLUMNS` as a record batch
    of :data:`PARSED_BATCH_DDL`, one row per message, in order. Never raises for bad input
    (a bad message is a row with ``reject`` set)."""
    import pyarrow as pa

    schema = _arrow_schema()
    for batch in batches:
        values = batch.column("value").to_pylist()
        # One clock per micro-batch: its datetime is made once, not once a message.
        clocks = {t: _clock(t) for t in batch.column("read_at_us").unique().to_pylist()}
        reads = batch.column("read_at_us").to_pylist()
        rows = [_parse_at(v, clocks[t]) for v, t in zip(values, reads, strict=True)]
        columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * len(Parsed._fields)
        arrays = [
            pa.array(column, type=field.type)
            for column, field in zip(columns, schema, strict=False)
        ]
        arrays += [
            batch.column("partition").cast(pa.int32()),
            batch.column("offset").cast(pa.int64()),
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
