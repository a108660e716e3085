"""The batch layer against the real broker, S3 server and warehouse.

Each test gets its own topic (so its own S3 keys and group offsets) and its own
warehouse schema (``search_path``), and checks the warehouse against an aggregation it
computes itself from what it produced.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from batch_layer.cycle import horizon_for, run_cycle
from batch_layer.load import BatchWarehouse
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.broker import client_config, ensure_topic
from lambda_common.contract import Event, parse_event
from lambda_common.objectstore import S3ObjectStore
from lambda_common.rows import warehouse_text
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

from .conftest import StackHandle
from .helpers import run_module

NOW = datetime.now(UTC)


@dataclass
class Lane:
    """One test's private topic and schema."""

    settings: Settings
    schema: str

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_TOPIC": self.settings.kafka_topic,
            "WAREHOUSE_DSN": self.settings.warehouse_dsn.get_secret_value(),
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
            "S3_ENDPOINT_URL": self.settings.s3_endpoint_url or "",
        }


@pytest.fixture
def lane(stack: StackHandle) -> Iterator[Lane]:
    topic = stack.unique("it_batch")
    schema = topic
    base = stack.settings.warehouse_dsn.get_secret_value()
    dsn = base + ("&" if "?" in base else "?") + "options=" + quote(f"-csearch_path={schema}")
    with Warehouse(stack.settings) as wh:
        wh.execute(f'CREATE SCHEMA "{schema}"')
    settings = stack.settings.model_copy(
        update={"kafka_topic": topic, "warehouse_dsn": type(stack.settings.warehouse_dsn)(dsn)}
    )
    ensure_topic(settings, topic, partitions=3)
    yield Lane(settings, schema)
    with Warehouse(stack.settings) as wh:
        wh.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _send_raw(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(acks="all", enable_idempotence=True, **client_config(settings))
    for key, value in messages:
        producer.send(settings.kafka_topic, key=key, value=value)
    producer.flush()
    producer.close()


def _produce_mix(settings: Settings, count: int = 3000) -> None:
    options = SyntheticOptions(
        seed=17,
        count=count,
        start=NOW - timedelta(days=2),
        end=NOW,
        duplicate_fraction=0.1,
        late_fraction=0.05,
    )
    good = [(e.tweet_id.encode(), e.to_json_bytes()) for e in SyntheticTweets(options)]
    future = (NOW + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad = [
        (b"1", b"not json at all"),
        (b"2", b'{"tweet_id": "2", "created_at": "2026-11-21T10:00:00Z"}'),
        (
            b"3",
            json.dumps(
                {
                    "tweet_id": "3",
                    "created_at": future,
                    "user_id": "u",
                    "followers_count": 1,
                    "favorite_count": 0,
                    "retweet_count": 0,
                }
            ).encode(),
        ),
        (b"4", b"\xff\xfe\x00 invalid utf-8"),
    ]
    _send_raw(settings, good[:1000] + bad[:2] + good[1000:] + bad[2:])


def _read_topic(settings: Settings) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every message now in the topic."""
    consumer = KafkaConsumer(enable_auto_commit=False, **client_config(settings))
    partitions = consumer.partitions_for_topic(settings.kafka_topic)
    tps = [TopicPartition(settings.kafka_topic, p) for p in partitions]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    out = []
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for tp, records in consumer.poll(timeout_ms=1000).items():
            out.extend((tp.partition, r.offset, r.value) for r in records)
    consumer.close()
    return out


def _expected(
    settings: Settings, horizon: datetime
) -> dict[tuple[datetime, str], tuple[int, int, int, int]]:
    """The contract's aggregation, computed here from the topic itself."""
    first: dict[str, tuple[int, int, Event]] = {}
    for partition, offset, value in _read_topic(settings):
        event = parse_event(value, now=NOW)
        if isinstance(event, Event):
            rank = (offset, partition)
            if event.tweet_id not in first or rank < first[event.tweet_id][:2]:
                first[event.tweet_id] = (*rank, event)
    sums: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for _, _, e in first.values():
        if e.event_hour < horizon:
            s = sums[(e.event_hour, warehouse_text(e.location_key))]
            s[0] += 1
            s[1] += e.followers_count
            s[2] += e.favorite_count
            s[3] += e.retweet_count
    return {k: (v[0], v[1], v[2], v[3]) for k, v in sums.items()}


def _view(settings: Settings) -> dict[tuple[datetime, str], tuple[int, int, int, int]]:
    with Warehouse(settings) as wh:
        rows = wh.query(
            "SELECT event_hour, location, tweet_count, followers_sum, favorite_sum, retweet_sum "
            "FROM batch_view"
        )
    return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows}


def _snapshot(settings: Settings) -> dict[str, Any]:
    with Warehouse(settings) as wh:
        return {
            "raw": wh.query(
                "SELECT tweet_id, kafka_partition, kafka_offset FROM raw_tweets ORDER BY tweet_id"
            ),
            "ledger": wh.query(
                "SELECT object_key, events, rejects FROM load_ledger ORDER BY object_key"
            ),
            "horizon": wh.query("SELECT horizon FROM batch_horizon"),
            "view": _view(settings),
        }


def test_cycle_gives_exact_counts_and_a_rerun_is_a_no_op(lane: Lane) -> None:
    _produce_mix(lane.settings)
    result = run_cycle(lane.settings, now=NOW)
    # Rejected: not JSON, missing fields, far future, invalid UTF-8.
    assert result.rejects == 4
    horizon = horizon_for(NOW, lane.settings.allowed_lateness)
    assert result.horizon == horizon
    expected = _expected(lane.settings, horizon)
    assert sum(v[0] for v in expected.values()) > 2000
    assert _view(lane.settings) == expected
    before = _snapshot(lane.settings)
    again = run_cycle(lane.settings, now=NOW)
    assert (again.objects, again.events, again.loaded) == (0, 0, False)
    assert _snapshot(lane.settings) == before


@pytest.mark.parametrize("point", ["after_s3", "after_copy", "after_load_commit", "after_offsets"])
def test_sigkill_at_any_point_then_rerun_is_exact(lane: Lane, point: str) -> None:
    _produce_mix(lane.settings, count=1500)
    crashed = run_module("batch_layer", "once", env={**lane.env(), "LAMBDA_FAILPOINT": point})
    assert crashed.returncode == -9, crashed.stderr[-500:]
    rerun = run_module("batch_layer", "once", env=lane.env())
    assert rerun.returncode == 0, rerun.stderr[-800:]
    with Warehouse(lane.settings) as wh:
        (horizon,) = wh.query("SELECT horizon FROM batch_horizon")[0]
        dupes = wh.query("SELECT COUNT(*) - COUNT(DISTINCT tweet_id) FROM raw_tweets")[0][0]
    assert dupes == 0
    assert _view(lane.settings) == _expected(lane.settings, horizon)
    third = run_module("batch_layer", "once", env=lane.env())
    assert "0 events landed" in third.stderr


def test_recompute_rebuilds_the_same_tables_from_s3_alone(lane: Lane) -> None:
    _produce_mix(lane.settings, count=2000)
    run_cycle(lane.settings, now=NOW)
    before = _snapshot(lane.settings)
    with Warehouse(lane.settings) as wh:  # lose the warehouse's copy entirely
        wh.execute("DELETE FROM raw_tweets")
        wh.execute("DELETE FROM batch_view")
        wh.execute("DELETE FROM load_ledger")
    result = run_module("batch_layer", "recompute", env=lane.env())
    assert result.returncode == 0, result.stderr[-800:]
    assert "from 3 objects" in result.stderr
    assert _snapshot(lane.settings) == before


def test_processes_on_disjoint_partitions_publish_only_what_all_have_landed(lane: Lane) -> None:
    _produce_mix(lane.settings, count=1500)
    cautious = lane.settings.model_copy(update={"allowed_lateness": 5 * 3600})
    first = run_cycle(lane.settings, now=NOW, only_partitions=[0])
    # Partitions 1 and 2 have never been landed: no hour is safe to publish yet.
    assert first.horizon is None
    assert _view(lane.settings) == {}
    # A process on 1 and 2 that vouches for less (more lateness) holds the horizon back.
    second = run_cycle(cautious, now=NOW, only_partitions=[1, 2])
    assert second.horizon == horizon_for(NOW, cautious.allowed_lateness)
    assert _view(lane.settings) == _expected(lane.settings, second.horizon)
    # Once it vouches for as much as partition 0, the horizon moves there.
    third = run_cycle(lane.settings, now=NOW, only_partitions=[1, 2])
    horizon = horizon_for(NOW, lane.settings.allowed_lateness)
    assert third.horizon == horizon
    assert _view(lane.settings) == _expected(lane.settings, horizon)
    # The horizon never moves back, whatever a later cycle vouches for.
    behind = run_cycle(cautious, now=NOW, only_partitions=[0])
    assert behind.horizon == horizon
    assert _view(lane.settings) == _expected(lane.settings, horizon)


def test_a_second_batch_process_is_refused_while_one_runs(lane: Lane) -> None:
    from batch_layer.schedule import cycle_lock

    with cycle_lock(lane.settings):
        result = run_module("batch_layer", "once", env=lane.env())
    assert result.returncode == 1
    assert "another batch process is running" in result.stderr


def test_scheduler_runs_cycles_until_stopped(lane: Lane) -> None:
    import threading

    from batch_layer.schedule import run_forever

    _produce_mix(lane.settings, count=500)
    settings = lane.settings.model_copy(update={"batch_interval": 1})
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(settings, stop))

    def wait_for(query: str, value: int) -> None:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        with Warehouse(settings) as wh:
            while datetime.now(UTC) < deadline and int(wh.query(query)[0][0]) != value:
                time.sleep(0.2)

    with Warehouse(settings) as wh:
        BatchWarehouse(settings, wh, S3ObjectStore(settings)).ensure_schema()
    worker.start()
    try:
        wait_for("SELECT COUNT(*) FROM load_ledger", 3)
        _send_raw(settings, [(b"9", b"late garbage")])  # arrives between cycles
        wait_for("SELECT COALESCE(SUM(rejects), 0) FROM load_ledger", 5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    with Warehouse(settings) as wh:
        # _produce_mix's 4 malformed messages, then the late garbage: 5 rejects, 4 objects.
        assert int(wh.query("SELECT COALESCE(SUM(rejects), 0) FROM load_ledger")[0][0]) == 5
