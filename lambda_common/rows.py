"""An event as a warehouse row: the one mapping both layers use.

``event_hour``, ``location``, ``lang`` and ``hashtags`` are the views' grouping keys
(CONTRACT sections 2 and 2b), normalised by :mod:`lambda_common.contract`. PostgreSQL
and Redshift cannot store NUL in text, which the contract allows inside strings; NUL
becomes U+FFFD in the warehouse and in the speed layer alike (the master dataset in S3
keeps the event verbatim, under ``event``).

A row's ``hashtags`` is a list (a JSON array in the master object, a column of the
staging table); :func:`csv_values` is the one place that writes a row as CSV. How a row's
values are written in a master object, and read back, is :mod:`lambda_common.landed`.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from lambda_common.contract import Event, encode_json, event_from_dict
from lambda_common.landed import decode_row, stamp_and_hour

ROW_COLUMNS = (
    "tweet_id",
    "created_at",
    "event_hour",
    "location",
    "user_id",
    "followers_count",
    "favorite_count",
    "retweet_count",
    "kafka_partition",
    "kafka_offset",
    "lang",
    "hashtags",
)
"""The columns of the staging table, in CSV order: ``raw_tweets``'s, then ``hashtags``
(the tweet's hashtag keys, a JSON array, which the load turns into ``raw_hashtags``)."""

_CSV_VALUES = itemgetter(*ROW_COLUMNS)
_HASHTAGS = ROW_COLUMNS.index("hashtags")


def warehouse_text(value: str) -> str:
    """Text as the warehouse can hold it (NUL replaced by U+FFFD)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def hashtag_keys(event: Event) -> list[str]:
    """The tweet's distinct hashtag keys as the warehouse holds them: normalised by the
    contract, NUL replaced, distinct again (two tags may differ only by NUL vs U+FFFD)."""
    keys = event.hashtag_keys
    if not keys:
        return []
    return list(dict.fromkeys(warehouse_text(k) for k in keys))


def event_row(event: Event, partition: int, offset: int) -> dict[str, Any]:
    """The ``raw_tweets`` row of one event read at (partition, offset): integers as ints,
    timestamps as text (:func:`lambda_common.landed.stamp_and_hour`)."""
    stamp, hour = stamp_and_hour(event.created_at)
    return {
        "tweet_id": event.tweet_id,
        "created_at": stamp,
        "event_hour": hour,
        "location": warehouse_text(event.location_key),
        "user_id": warehouse_text(event.user_id),
        "followers_count": event.followers_count,
        "favorite_count": event.favorite_count,
        "retweet_count": event.retweet_count,
        "kafka_partition": partition,
        "kafka_offset": offset,
        "lang": warehouse_text(event.lang_key),
        "hashtags": hashtag_keys(event),
    }


def csv_values(row: dict[str, Any]) -> list[Any]:
    """A row's values in ``ROW_COLUMNS`` order, as the CSV of COPY takes them."""
    values = list(_CSV_VALUES(row))
    # csv writes str: the UTF-8 JSON decoded back is the text json.dumps gave before.
    values[_HASHTAGS] = encode_json(values[_HASHTAGS]).decode()
    return values


def row_from_master(record: dict[str, Any]) -> dict[str, Any]:
    """The warehouse row (``ROW_COLUMNS``, as :func:`event_row` gives them) of a
    master-object record, whichever version landed it.

    Its values are read by :func:`lambda_common.landed.decode_row`. Records landed before
    the ``lang`` and ``hashtags`` keys existed are derived again from the event they keep
    verbatim (``make recompute`` after an upgrade).
    """
    if "hashtags" in record:
        return decode_row({c: record[c] for c in ROW_COLUMNS})
    row = decode_row(record)
    event = event_from_dict(record["event"])
    return event_row(event, row["kafka_partition"], row["kafka_offset"])
