"""The speed layer's view of one Kafka message: pure Python, no Spark needed to test it.

Spark calls :func:`parse_message` as a UDF on every message. It decides validity with
the same :func:`lambda_common.contract.parse_event` the batch layer uses, and builds the
grouping keys (location, lang, the hashtag keys) with the same :mod:`lambda_common.rows`
helpers, so the two layers cannot disagree on what an event is or where it counts.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from lambda_common.contract import Event, parse_event
from lambda_common.rows import hashtag_keys, warehouse_text

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


# The UDF's return type, as Spark DDL; the order and names follow ``Parsed``.
PARSED_DDL = (
    "tweet_id string, event_hour_s bigint, created_at_us bigint, location string, "
    "lang string, user_id string, hashtags array<string>, "
    "followers_count bigint, favorite_count bigint, retweet_count bigint, reject string"
)


def parse_message(value: bytes | bytearray | None, read_at_us: int) -> Parsed:
    """Parse one message value as read at ``read_at_us`` (the micro-batch's clock).

    The clock is Spark's ``current_timestamp()``, fixed per micro-batch and recorded in
    the checkpoint, so a replayed micro-batch judges "too far in the future" exactly as
    the first attempt did. Never raises.
    """
    now = _EPOCH + timedelta(microseconds=read_at_us)
    result = parse_event(bytes(value) if value is not None else None, now=now)
    if not isinstance(result, Event):
        return Parsed(None, None, None, None, None, None, None, None, None, None, result.reason)
    created = result.created_at
    return Parsed(
        tweet_id=result.tweet_id,
        event_hour_s=calendar.timegm(result.event_hour.timetuple()),
        created_at_us=calendar.timegm(created.timetuple()) * 1_000_000 + created.microsecond,
        location=warehouse_text(result.location_key),
        lang=warehouse_text(result.lang_key),
        user_id=warehouse_text(result.user_id),
        hashtags=hashtag_keys(result),
        followers_count=result.followers_count,
        favorite_count=result.favorite_count,
        retweet_count=result.retweet_count,
        reject=None,
    )
