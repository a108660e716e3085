"""Incremental equals full, on the real PostgreSQL: a random sequence of batch cycles (late
events within and beyond ALLOWED_LATENESS, duplicates within and across cycles, horizon
moves of zero to several hours, a partition added, a view's table found edited and its
definition "changed") run through Kafka, S3 and the warehouse; after every cycle each
batch table (and ``batch_daily``) equals what a full rebuild from the raw tables gives,
read in a transaction that is rolled back, and at the end the serving views equal the
contract's aggregation computed here from the topic.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest
from kafka.admin import NewPartitions
from psycopg2 import sql

from batch_layer.cycle import run_cycle
from batch_layer.load import BatchWarehouse
from lambda_common.contract import Event
from lambda_common.kafka.broker import admin_client
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

from .helpers import Lane, _rows, expected_all_views, messages_of, mismatch, send_raw

pytestmark = pytest.mark.integration

REAL_NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)


class _RollBack(Exception):
    """Ends the comparison's transaction without committing the full rebuild."""


def _tables(wh: Warehouse, settings: Settings) -> dict[str, object]:
    out: dict[str, object] = {}
    for view in settings.views:
        out[view.name] = _rows(wh, view, view.batch_table)
    out["batch_daily"] = sorted(wh.query("SELECT * FROM batch_daily"))
    return out


def incremental_and_full(settings: Settings) -> tuple[dict[str, object], dict[str, object]]:
    """The batch tables as the cycles left them, and as a full rebuild from the raw tables
    makes them at the same horizon (rolled back, so the next cycle starts from the
    incremental ones)."""
    with Warehouse(settings) as wh:
        incremental = _tables(wh, settings)
        batch = BatchWarehouse(settings, wh, S3ObjectStore(settings))
        full: dict[str, object] = {}
        try:
            with wh.transaction() as cur:
                cur.execute("SELECT horizon FROM batch_horizon")
                row = cur.fetchone()
                assert row is not None and row[0] is not None
                batch.views.rebuild_all(cur, row[0])
                for view in settings.views:
                    cur.execute(
                        sql.SQL("SELECT {} FROM {}").format(
                            sql.SQL(", ").join(map(sql.Identifier, view.columns)),
                            sql.Identifier(view.batch_table),
                        )
                    )
                    n = len(view.key_columns)
                    full[view.name] = {
                        tuple(r[:n]): tuple(int(x) for x in r[n:]) for r in cur.fetchall()
                    }
                cur.execute("SELECT * FROM batch_daily")
                full["batch_daily"] = sorted(cur.fetchall())
                raise _RollBack
        except _RollBack:
            pass
    return incremental, full


class Producer:
    """Random events around a simulated clock, sent keyed by tweet id."""

    def __init__(self, settings: Settings, seed: int) -> None:
        self.settings = settings
        self.rng = random.Random(seed)
        self.sent: list[Event] = []

    def send(self, now: datetime, count: int) -> None:
        rng, events = self.rng, []
        for _ in range(count):
            kind = rng.random()
            if kind < 0.5:
                created = now - timedelta(minutes=rng.randrange(90))
            elif kind < 0.8:
                created = now - timedelta(minutes=rng.randrange(90, 180))
            else:
                created = now - timedelta(hours=rng.randrange(3, 72))
            if self.sent and rng.random() < 0.1:
                first = rng.choice(self.sent)
                event = dataclasses.replace(first, created_at=created, favorite_count=7)
            else:
                event = Event(
                    tweet_id=str(rng.randrange(10**17, 10**18)),
                    created_at=created,
                    user_id=f"u{rng.randrange(9)}",
                    followers_count=rng.randrange(10**6),
                    favorite_count=rng.randrange(100),
                    retweet_count=rng.randrange(30),
                    location=rng.choice(["Oslo", " Lima", None, "Kyiv ", "São Paulo"]),
                    lang=rng.choice(["en", " PT", None]),
                    hashtags=tuple(rng.sample(["x", "#Y", "y", " z"], rng.randrange(4))),
                )
                self.sent.append(event)
            events.append(event)
        send_raw(self.settings, messages_of(events))


def test_every_cycle_leaves_each_batch_table_equal_to_a_full_rebuild(
    lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    settings = lane.settings
    producer = Producer(settings, seed=28)
    now = REAL_NOW - timedelta(hours=14)
    rng = random.Random(5)
    caplog.set_level(logging.INFO, logger="batch_layer")
    for step in range(7):
        producer.send(now, rng.randrange(20, 200))
        if step == 3:
            admin = admin_client(settings)
            try:
                admin.create_partitions({settings.kafka_topic: NewPartitions(total_count=4)})
            finally:
                admin.close()
            # A copy sent now may hash to another partition than its first: the
            # contract's "lowest offset" then no longer orders them, so later
            # duplicates repeat only tweets sent from here on.
            producer.sent.clear()
        if step == 4:
            with Warehouse(settings) as wh:
                # An operator's slip and a changed definition: the recorded fingerprint no
                # longer matches, so the next cycle rebuilds that view in full.
                wh.execute('UPDATE "batch_view" SET tweet_count = tweet_count + 1000')
                wh.execute(
                    "UPDATE schema_objects SET definition_sha = 'changed' "
                    "WHERE object_name = 'batch_rebuild:locations'"
                )
        run_cycle(settings, now=now)
        incremental, full = incremental_and_full(settings)
        for name in full:
            assert incremental[name] == full[name], f"{name} after cycle {step + 1}"
        now += timedelta(minutes=rng.choice([0, 45, 60, 130]))
    rebuilt = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rebuilt ")]
    assert any("in full" not in line for line in rebuilt), rebuilt
    assert any("in full: locations" in line for line in rebuilt[1:]), rebuilt
    with Warehouse(settings) as wh:
        horizon = wh.query("SELECT horizon FROM batch_horizon")[0][0]
    want = expected_all_views(settings, REAL_NOW, lambda hour: hour < horizon)
    got: dict[tuple[object, ...], tuple[int, int, int, int]] = {}
    with Warehouse(settings) as wh:
        for view in settings.views:
            for key, sums in _rows(wh, view, view.batch_table).items():
                got[(view.name, *key)] = sums
    assert got == want, mismatch(want, got)
