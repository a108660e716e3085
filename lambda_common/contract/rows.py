"""An event as a warehouse row: the one mapping both layers use.

``event_hour``, ``location``, ``lang`` and ``hashtags`` are the views' grouping keys
(CONTRACT sections 2 and 2b), normalised by :mod:`lambda_common.contract`. PostgreSQL
and Redshift cannot store NUL in text, which the contract allows inside strings; NUL
becomes U+FFFD in the warehouse and in the speed layer alike (the master dataset in S3
keeps the event verbatim, under ``event``).

A row's ``hashtags`` is a list (a JSON array in the master object, a column of the
staging table); :func:`csv_values` is the one place that writes a row as CSV. How a row's
values are written in a master object, and read back, is :mod:`lambda_common.contract.landed`.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from lambda_common.contract import (
    Event,
    encode_json,
    event_from_dict,
    normalize_hashtags,
    normalize_lang,
    normalize_location,
)
from lambda_common.contract.landed import decode_row, stamp_and_hour

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
    return _warehouse_hashtags(event.hashtags)


def _warehouse_hashtags(raw: tuple[str, ...] | list[str]) -> list[str]:
    keys = normalize_hashtags(raw)
    if not keys:
        return []
    return list(dict.fromkeys(warehouse_text(k) for k in keys))


def event_row(event: Event, partition: int, offset: int) -> dict[str, Any]:
    """The ``raw_tweets`` row of one event read at (partition, offset): integers as ints,
    timestamps as text (:func:`lambda_common.contract.landed.stamp_and_hour`)."""
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
    values[_HASHTAGS] = hashtags_text(values[_HASHTAGS])
    return values


def hashtags_text(keys: list[str]) -> str:
    """A row's ``hashtags`` as its CSV field holds them: the JSON array, as text."""
    # csv writes str: the UTF-8 JSON decoded back is the text json.dumps gave before.
    return encode_json(keys).decode()


def csv_quoted(text: str) -> str:
    """``text`` as one field of the CSV ``csv.writer(quoting=csv.QUOTE_ALL)`` writes (the
    form COPY reads): in double quotes, each double quote doubled, all else verbatim. The
    same text as the csv module's for any str (tests/unit/test_landing_equivalence.py)."""
    return '"' + text.replace('"', '""') + '"'


class RowKeys:
    """A row's grouping keys of raw values, as :func:`event_row` holds them, each with its
    CSV field (:func:`csv_quoted`), cached per distinct raw value: most events of a chunk
    share a few locations, languages and sets of hashtags. Bounded: a raw value longer
    than ``_CACHED_CHARS`` is not kept, and a cache that reaches ``_CACHE_LIMIT`` entries
    starts again empty (authors are too many to be worth a cache)."""

    def __init__(self) -> None:
        self._location: dict[str | None, tuple[str, str]] = {}
        self._lang: dict[str | None, tuple[str, str]] = {}
        self._hashtags: dict[tuple[str, ...], tuple[list[str], str]] = {}

    def location(self, raw: str | None) -> tuple[str, str]:
        """The row's ``location`` of a raw ``location``, and its CSV field."""
        return self._location.get(raw) or _text_key(self._location, raw, normalize_location)

    def lang(self, raw: str | None) -> tuple[str, str]:
        """The row's ``lang`` of a raw ``lang``, and its CSV field."""
        return self._lang.get(raw) or _text_key(self._lang, raw, normalize_lang)

    def hashtags(self, raw: list[str] | None) -> tuple[list[str], str]:
        """The row's ``hashtags`` of a raw array (None: absent), and its CSV field. The
        list is shared by every caller of the same tags: read it, never change it."""
        tags = tuple(raw) if raw else ()
        hit = self._hashtags.get(tags)
        if hit is None:
            keys = _warehouse_hashtags(tags)
            hit = _remember(self._hashtags, tags, (keys, csv_quoted(hashtags_text(keys))), *tags)
        return hit


# RowKeys' bounds: distinct raw values kept per key, and the longest raw text kept.
_CACHE_LIMIT = 8192
_CACHED_CHARS = 256


def _text_key(
    cache: dict[str | None, tuple[str, str]],
    raw: str | None,
    normalize: Callable[[str | None], str],
) -> tuple[str, str]:
    """The key ``normalize`` gives ``raw`` as the warehouse holds it, and its CSV field."""
    key = warehouse_text(normalize(raw))
    return _remember(cache, raw, (key, csv_quoted(key)), raw)  # type: ignore[no-any-return]


def _remember(cache: dict[Any, Any], raw: Any, value: Any, *texts: str | None) -> Any:
    """``value``, kept for ``raw`` in ``cache`` when its ``texts`` are short enough."""
    if sum(len(t) for t in texts if t is not None) <= _CACHED_CHARS:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[raw] = value
    return value


def row_from_master(record: dict[str, Any]) -> dict[str, Any]:
    """The warehouse row (``ROW_COLUMNS``, as :func:`event_row` gives them) of a
    master-object record, whichever version landed it.

    Its values are read by :func:`lambda_common.contract.landed.decode_row`. Records landed before
    the ``lang`` and ``hashtags`` keys existed are derived again from the event they keep
    verbatim (``make recompute`` after an upgrade).
    """
    if "hashtags" in record:
        return decode_row({c: record[c] for c in ROW_COLUMNS})
    row = decode_row(record)
    event = event_from_dict(record["event"])
    return event_row(event, row["kafka_partition"], row["kafka_offset"])
