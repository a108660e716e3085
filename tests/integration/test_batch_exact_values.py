"""The edge values of the contract through both PostgreSQL loads: a cycle's (the CSV
landing wrote) and ``make recompute``'s (the master objects read back from S3), for
objects of this version's line form and of the form earlier versions wrote (JSON numbers,
unpadded years): counts 0, 2^53 + 1 and 2^63 - 1 and years 0001 and 0999 reach
``raw_tweets`` exactly, and the same either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from batch_layer.cycle import recompute, run_cycle
from batch_layer.landing import master_prefix
from lambda_common.contract import Event
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from tests.unit.test_landed import older_form

from .helpers import Lane, send_raw

TOP = 2**63 - 1
NOW = datetime.now(UTC)
EVENTS = [
    Event(
        tweet_id=str(n),
        created_at=at,
        user_id="u",
        followers_count=count,
        favorite_count=count,
        retweet_count=count,
        location="Edge",
    )
    for n, (at, count) in enumerate(
        [
            (datetime(1, 1, 1, tzinfo=UTC), 0),
            (datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), TOP),
            (datetime(1000, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 2**53 + 1),
            (NOW - timedelta(hours=3), TOP - 1),
        ],
        start=1,
    )
]


def raw_rows(settings: Settings) -> list[tuple[Any, ...]]:
    """``raw_tweets``' ids, times and counts (as ints), by tweet_id."""
    with Warehouse(settings) as wh:
        rows = wh.query(
            "SELECT tweet_id, created_at, event_hour, followers_count, favorite_count, "
            "retweet_count FROM raw_tweets ORDER BY tweet_id"
        )
    return [(*r[:3], *(int(n) for n in r[3:])) for r in rows]


def raw_row(e: Event) -> tuple[Any, ...]:
    """What ``raw_rows`` holds for an event loaded exactly."""
    return (
        e.tweet_id,
        e.created_at.replace(tzinfo=None),
        e.event_hour,
        e.followers_count,
        e.favorite_count,
        e.retweet_count,
    )


def _raw(lane: Lane) -> list[tuple[Any, ...]]:
    return raw_rows(lane.settings)


def _expected() -> list[tuple[Any, ...]]:
    return [raw_row(e) for e in EVENTS]


def test_edge_values_load_exactly_from_the_csv_and_from_old_and_new_objects(lane: Lane) -> None:
    send_raw(lane.settings, [(e.tweet_id.encode(), e.to_json_bytes()) for e in EVENTS])
    result = run_cycle(lane.settings, now=NOW)
    assert (result.events, result.rejects) == (len(EVENTS), 0)
    assert _raw(lane) == _expected()

    # make recompute reads this version's objects back from S3.
    assert recompute(lane.settings) == result.objects
    assert _raw(lane) == _expected()

    # ... and objects an earlier version wrote (year 1 as "1-01-01", which PostgreSQL
    # would read as 2001, and every integer a JSON number).
    store = S3ObjectStore(lane.settings)
    keys = store.list_keys(master_prefix(lane.settings.kafka_topic))
    for key in keys:
        store.put(key, older_form(store.get(key)))
    assert recompute(lane.settings) == len(keys)
    assert _raw(lane) == _expected()
    with Warehouse(lane.settings) as wh:
        ledger = wh.query("SELECT SUM(events), SUM(rejects) FROM load_ledger")
        rejected = wh.query("SELECT COUNT(*) FROM load_rejects")
    # PostgreSQL's load rejects no row: its table of COPY rejects exists and stays empty.
    assert ledger == [(len(EVENTS), 0)] and rejected == [(0,)]
