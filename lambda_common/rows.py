"""An event as a warehouse row: the one mapping both layers use.

``event_hour`` and ``location`` are the views' grouping keys (CONTRACT.md section 2).
PostgreSQL and Redshift cannot store NUL in text, which the contract allows inside
strings; NUL becomes U+FFFD in the warehouse (and only there: the master dataset in S3
keeps the event verbatim).
"""

from __future__ import annotations

from typing import Any

from lambda_common.contract import Event

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
)


def warehouse_text(value: str) -> str:
    """Text as the warehouse can hold it (NUL replaced by U+FFFD)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _timestamp(event: Event) -> str:
    # Naive UTC, microseconds: what both COPY paths (CSV and Redshift JSON 'auto') parse.
    return event.created_at.strftime("%Y-%m-%d %H:%M:%S.%f")


def _hour(event: Event) -> str:
    return event.event_hour.strftime("%Y-%m-%d %H:%M:%S")


def event_row(event: Event, partition: int, offset: int) -> dict[str, Any]:
    """The ``raw_tweets`` row of one event read at (partition, offset)."""
    created_at = event.created_at
    if created_at.year >= 1000:
        # isoformat is C and about 4x cheaper than strftime; from year 1000 on it writes
        # the same text (the UTC offset it appends is cut off). Below, glibc's %Y is not
        # zero-padded while isoformat's is, so those keep strftime.
        stamp = created_at.isoformat(" ", "microseconds")[:26]
        hour = stamp[:13] + ":00:00"
    else:
        stamp, hour = _timestamp(event), _hour(event)
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
    }
