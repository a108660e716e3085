"""The pipeline against a real Amazon Redshift (provisioned or Serverless): opt-in.

No Redshift exists on a developer machine or in CI, so this runs only when
``REDSHIFT_TEST_DSN`` is set (a **scratch** database: each test drops every view and
table of the pipeline in its default schema, then lets the pipeline create them again).
It also needs a real S3 bucket Redshift can read (``REDSHIFT_TEST_S3_BUCKET``, in
``AWS_REGION``) and either ``REDSHIFT_IAM_ROLE`` or AWS keys (and ``AWS_SESSION_TOKEN``
for temporary ones) in the environment. ``REDSHIFT_TEST_QUERY_DSN`` is the read-only user
the serving queries run as (default: ``REDSHIFT_TEST_DSN``'s own). Kafka is the test
session's own broker. Rerunnable: nothing is left behind that a second run trips on.

    REDSHIFT_TEST_DSN=postgresql://user:pass@cluster.xxx.redshift.amazonaws.com:5439/scratch \\
    REDSHIFT_TEST_S3_BUCKET=my-scratch-bucket REDSHIFT_IAM_ROLE=arn:aws:iam::1:role/copy \\
    make test-integration PYTEST_ARGS="-k redshift"
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg2 import sql

from batch_layer.cycle import horizon_for, run_cycle
from batch_layer.hours import BEGINNING
from batch_layer.load import BatchWarehouse
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event, parse_event
from lambda_common.contract.rows import warehouse_text
from lambda_common.errors import TransientError
from lambda_common.kafka.broker import ensure_topic
from lambda_common.objectstore import S3ObjectStore
from lambda_common.retry import Backoff, retry_call
from lambda_common.settings import Settings, load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import load_views
from lambda_common.warehouse import Warehouse
from serving_layer.catalogue import list_queries, load_query
from serving_layer.execute import run_named
from serving_layer.params import utc_now
from speed_layer.view import SpeedView, ViewRow
from tests.stack import StackHandle

from .helpers import send_raw

DSN = os.environ.get("REDSHIFT_TEST_DSN", "")
BUCKET = os.environ.get("REDSHIFT_TEST_S3_BUCKET", "")
QUERY_DSN = os.environ.get("REDSHIFT_TEST_QUERY_DSN", "") or DSN

pytestmark = pytest.mark.skipif(
    not (DSN and BUCKET),
    reason="opt-in: set REDSHIFT_TEST_DSN and REDSHIFT_TEST_S3_BUCKET to run against Redshift",
)

# What each test drops first, read from the files that create them, so a table added to
# schema.sql is dropped too. These must be among them (the test fails if one is not).
SCHEMA_TABLES = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", load_sql("schema", "redshift")) + [
    table for view in load_views() for table in (view.batch_table, view.speed_table)
]
VIEWS = [view.serving_view for view in load_views()]
KNOWN_TABLES = {
    "raw_tweets",
    "raw_hashtags",
    "raw_tweet_ids",
    "speed_progress",
    "load_ledger",
    "batch_view",
    "batch_daily",
    "batch_horizon",
    "batch_watermarks",
    "speed_view",
    "speed_batches",
    "batch_topics",
    "lost_offsets",
    "batch_lock",
    "schema_objects",
}


def _drop_pipeline(settings: Settings) -> None:
    """Drop the pipeline's views, then its tables. CASCADE: Redshift's DROP is RESTRICT by
    default, and serving_view (or a view of the operator's own in a scratch database)
    depends on the tables; the views go first all the same."""
    with Warehouse(settings) as wh:
        for view in VIEWS:
            wh.execute(sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(sql.Identifier(view)))
        for table in SCHEMA_TABLES:
            wh.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))


@pytest.fixture
def redshift(stack: StackHandle) -> Iterator[Settings]:
    """Settings for Redshift with a topic of their own, on a freshly emptied database."""
    assert set(SCHEMA_TABLES) >= KNOWN_TABLES, KNOWN_TABLES - set(SCHEMA_TABLES)
    assert "serving_view" in VIEWS
    # Validated like any start-up: the role ARN, region and DSN are checked here.
    settings = load_settings(
        kafka_bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        kafka_topic=stack.unique("it_redshift"),
        warehouse_dsn=DSN,
        query_dsn=QUERY_DSN,
        warehouse_dialect="redshift",
        s3_endpoint_url="",
        s3_bucket=BUCKET,
    )
    _drop_pipeline(settings)
    yield settings


def _first_copies(events: list[Event], now: datetime) -> dict[str, Event]:
    """Duplicates are re-captures of the same tweet sent later: the first one sent wins."""
    first: dict[str, Event] = {}
    for e in events:
        parsed = parse_event(e.to_json_bytes(), now=now)
        assert isinstance(parsed, Event)
        first.setdefault(parsed.tweet_id, parsed)
    return first


def _expected_batch(events: list[Event], now: datetime, horizon: datetime) -> dict[Any, int]:
    expected: dict[tuple[datetime, str], int] = {}
    for e in _first_copies(events, now).values():
        if e.event_hour < horizon:
            key = (e.event_hour, warehouse_text(e.location_key))
            expected[key] = expected.get(key, 0) + 1
    return expected


def _synthetic(now: datetime, seed: int, count: int) -> list[Event]:
    options = SyntheticOptions(
        seed=seed, count=count, start=now - timedelta(days=1), end=now, duplicate_fraction=0.1
    )
    return list(SyntheticTweets(options))


def _send(settings: Settings, events: list[Event], extra: list[tuple[bytes, bytes]]) -> None:
    ensure_topic(settings, settings.kafka_topic, partitions=3)
    send_raw(settings, [(e.tweet_id.encode(), e.to_json_bytes()) for e in events] + extra)


def test_a_cycle_on_redshift_gives_exact_counts_and_a_rerun_is_a_no_op(
    redshift: Settings,
) -> None:
    now = datetime.now(UTC)
    events = _synthetic(now, seed=5, count=2000)
    # Two tweets with the largest counts in one group: their sums overflow a bigint.
    top = 2**63 - 1
    events += [
        Event(
            tweet_id=tweet_id,
            created_at=now - timedelta(hours=3),
            user_id="u",
            followers_count=top,
            favorite_count=top,
            retweet_count=top,
            location="Overflow City",
        )
        for tweet_id in ("11", "12")
    ]
    _send(redshift, events, [(b"1", b"{broken")])

    result = run_cycle(redshift, now=now)
    assert (result.rejects, result.loaded) == (1, True)
    horizon = horizon_for(now, redshift.allowed_lateness)
    with Warehouse(redshift) as wh:
        rows = wh.query("SELECT event_hour, location, tweet_count FROM batch_view")
        sums = wh.query(
            "SELECT followers_sum, favorite_sum, retweet_sum FROM serving_view "
            "WHERE location = 'Overflow City'"
        )
    assert {(r[0], r[1]): int(r[2]) for r in rows} == _expected_batch(events, now, horizon)
    assert sums == [(2 * top, 2 * top, 2 * top)]

    again = run_cycle(redshift, now=now)
    assert (again.objects, again.loaded) == (0, False)


def test_a_later_cycle_rebuilds_only_the_hours_its_late_events_touched_on_redshift(
    redshift: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The incremental path's Redshift statements: the de-duplication probe of
    raw_tweet_ids within the staged ids' range (a later copy with another created_at is
    never loaded), raw_hashtags with the tweet's hour, the hour-range rebuild of every
    view and batch_daily, and make rebuild-views giving the very same tables."""
    now = datetime.now(UTC)
    events = _synthetic(now, seed=9, count=1500)
    _send(redshift, events, [])
    run_cycle(redshift, now=now)
    horizon = horizon_for(now, redshift.allowed_lateness)
    late = [
        Event(
            tweet_id=str(9_000_000_000_000_000_000 + i),
            created_at=horizon - timedelta(hours=5, minutes=i),
            user_id="late",
            followers_count=i,
            favorite_count=1,
            retweet_count=0,
            location="Late Town",
            hashtags=("#late",),
        )
        for i in range(5)
    ]
    copy = dataclasses.replace(events[0], created_at=horizon - timedelta(hours=9))
    _send(redshift, [*late, copy], [])
    caplog.set_level(logging.INFO, logger="batch_layer")
    run_cycle(redshift, now=now)
    assert any("of 3 views in 1 ranges" in r.getMessage() for r in caplog.records)
    everything = [*events, *late, copy]
    with Warehouse(redshift) as wh:
        rows = wh.query("SELECT event_hour, location, tweet_count FROM batch_view")
        ids = wh.query(
            "SELECT (SELECT COUNT(*) FROM raw_tweet_ids), (SELECT COUNT(*) FROM raw_tweets)"
        )
        tags = wh.query(
            "SELECT COUNT(*) FROM raw_hashtags h JOIN raw_tweets t "
            "ON t.tweet_id = h.tweet_id AND t.event_hour = h.event_hour"
        )
        before = sorted(wh.query("SELECT * FROM batch_hashtags"))
        batch = BatchWarehouse(redshift, wh, S3ObjectStore(redshift))
        assert batch.rebuild_views() == horizon
        after = sorted(wh.query("SELECT * FROM batch_hashtags"))
        total = wh.query("SELECT COUNT(*) FROM raw_hashtags")
    assert {(r[0], r[1]): int(r[2]) for r in rows} == _expected_batch(everything, now, horizon)
    assert ids[0][0] == ids[0][1]
    assert tags == total
    assert before == after


class _Hours:
    """Known view rows around the current hour ``h``; the horizon is ``h - 2 hours``."""

    def __init__(self) -> None:
        self.h = utc_now().replace(minute=0, second=0, microsecond=0)
        self.horizon = self.at(-2)
        self.batch: list[ViewRow] = [
            (self.at(-3), "Paris", 10, 100, 1, 2),
            (self.at(-5), "Berlin", 4, 40, 0, 1),
            # At the horizon: served from speed_view, never from here.
            (self.at(-2), "Paris", 1000, 1, 1, 1),
        ]
        self.speed: list[ViewRow] = [
            # Before the horizon: apply() drops it, batch_view serves that hour.
            (self.at(-3), "Paris", 800, 1, 1, 1),
            (self.at(-2), "Paris", 3, 30, 0, 0),
            (self.h, "Berlin", 2, 20, 1, 0),
            (self.at(1), "Oslo", 1, 10, 0, 1),
        ]

    def at(self, hours: int) -> datetime:
        return self.h + timedelta(hours=hours)


def _publish_batch(settings: Settings, hours: _Hours) -> None:
    """What a cycle leaves: batch_view, batch_daily and the horizon, in one transaction."""
    with Warehouse(settings) as wh:
        wh.ensure_schema()
        with wh.transaction() as cur:
            cur.executemany("INSERT INTO batch_view VALUES (%s, %s, %s, %s, %s, %s)", hours.batch)
            cur.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (hours.horizon,))
            for statement in statements(load_sql("batch_daily_rebuild", wh.dialect)):
                cur.execute(statement, {"since": BEGINNING, "until": hours.horizon})


def _serving(settings: Settings) -> set[tuple[Any, ...]]:
    with Warehouse(settings) as wh:
        rows = wh.query("SELECT event_hour, location, tweet_count FROM serving_view")
    return {(r[0], r[1], int(r[2])) for r in rows}


def test_speed_rows_merge_with_batch_rows_at_the_horizon(redshift: Settings) -> None:
    hours = _Hours()
    _publish_batch(redshift, hours)
    with Warehouse(redshift) as wh:
        speed = SpeedView(redshift, wh)
        assert speed.apply("q", 0, {"locations": hours.speed}) == (3, hours.horizon)
        # A micro-batch's rows are its new events' aggregates: they add, once.
        more = {"locations": [(hours.at(-2), "Paris", 5, 50, 0, 0)]}
        assert speed.apply("q", 1, more) == (1, hours.horizon)
        assert speed.apply("q", 1, more) is None  # replayed: recognised, skipped
        kept = wh.query("SELECT event_hour, location, tweet_count FROM speed_view")
    assert {(r[0], r[1], int(r[2])) for r in kept} == {
        (hours.at(-2), "Paris", 8),
        (hours.h, "Berlin", 2),
        (hours.at(1), "Oslo", 1),
    }
    assert _serving(redshift) == {
        (hours.at(-3), "Paris", 10),
        (hours.at(-5), "Berlin", 4),
        (hours.at(-2), "Paris", 8),
        (hours.h, "Berlin", 2),
        (hours.at(1), "Oslo", 1),
    }


def test_every_named_query_runs_as_the_reader_through_the_query_executor(
    redshift: Settings,
) -> None:
    hours = _Hours()
    _publish_batch(redshift, hours)
    with Warehouse(redshift) as wh:
        SpeedView(redshift, wh).apply("q", 0, {"locations": hours.speed})
    results = {}
    with Warehouse(redshift, role="reader") as reader:
        for name in list_queries():
            given = {p.name: "Paris" for p in load_query(name).params if p.required}
            results[name] = run_named(reader, name, given)
    assert all(result.columns for result in results.values())

    (row,) = results["layers_summary"].rows
    summary = dict(zip(results["layers_summary"].columns, row, strict=True))
    assert summary["horizon"] == hours.horizon
    assert (summary["batch_rows"], int(summary["batch_tweets"])) == (2, 14)
    assert (summary["speed_rows"], int(summary["speed_tweets"])) == (3, 6)
    latest = [(r[0], r[1], int(r[2]), r[6]) for r in results["latest"].rows]
    assert latest == [
        (hours.at(1), "Oslo", 1, "speed"),
        (hours.h, "Berlin", 2, "speed"),
        (hours.at(-2), "Paris", 3, "speed"),
        (hours.at(-3), "Paris", 10, "batch"),
        (hours.at(-5), "Berlin", 4, "batch"),
    ]
    top = {r[0]: int(r[1]) for r in results["top_locations"].rows}
    assert top == {"Paris": 13, "Berlin": 6, "Oslo": 1}
    paris = [(r[0], int(r[1]), r[5]) for r in results["location_hourly"].rows]
    assert paris == [(hours.at(-2), 3, "speed"), (hours.at(-3), 10, "batch")]


def test_a_batch_cycle_and_speed_writes_at_the_same_time_both_finish_exactly(
    redshift: Settings,
) -> None:
    """Redshift aborts one of two concurrent transactions that cannot be serialized
    (ERROR 1023); the pipeline retries the whole transaction, so both sides finish and
    nothing is counted twice or lost."""
    now = datetime.now(UTC)
    horizon = horizon_for(now, redshift.allowed_lateness)
    events = _synthetic(now, seed=11, count=3000)
    _send(redshift, events, [])
    with Warehouse(redshift) as wh:
        wh.ensure_schema()
    speed_rows: list[ViewRow] = [
        (horizon + timedelta(hours=k), f"Speed City {k}", 10 + k, 100, 1, 1) for k in (0, 1)
    ]
    stop = threading.Event()
    first = threading.Event()
    failures: list[BaseException] = []
    writes = 0

    def keep_writing() -> None:
        nonlocal writes
        try:
            with Warehouse(redshift) as wh:
                speed = SpeedView(redshift, wh)
                while not stop.is_set() or writes < 2:
                    speed.apply("q", writes, {"locations": speed_rows})
                    writes += 1
                    first.set()
        except BaseException as e:  # reported by the test thread
            failures.append(e)
            first.set()

    writer = threading.Thread(target=keep_writing, name="speed-writer", daemon=True)
    writer.start()
    assert first.wait(120), "the speed writer never wrote"
    try:
        # As make batch does: a cycle Redshift aborts (ERROR 1023) is run again whole.
        result = retry_call(
            lambda: run_cycle(redshift, now=now),
            retry_on=TransientError,
            backoff=Backoff(first_s=1.0, cap_s=10.0),
            attempts=10,
            what="batch cycle",
        )
    finally:
        stop.set()
        writer.join(300)
    assert not writer.is_alive(), "the speed writer did not finish"
    assert not failures, failures
    assert result.loaded and writes >= 2

    expected = _expected_batch(events, now, horizon)
    with Warehouse(redshift) as wh:
        batch = wh.query("SELECT event_hour, location, tweet_count FROM batch_view")
        speed = wh.query("SELECT event_hour, location, tweet_count FROM speed_view")
        ((served,),) = wh.query("SELECT SUM(tweet_count) FROM serving_view")
        ((published,),) = wh.query("SELECT MAX(horizon) FROM batch_horizon")
    assert published == horizon
    assert {(r[0], r[1]): int(r[2]) for r in batch} == expected
    # Every micro-batch added its rows once.
    assert {(r[0], r[1], int(r[2])) for r in speed} == {
        (r[0], r[1], r[2] * writes) for r in speed_rows
    }
    assert int(served) == sum(expected.values()) + writes * sum(r[2] for r in speed_rows)
