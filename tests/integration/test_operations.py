"""What operators do to a topic, on the real broker, S3 server and warehouse.

A deleted and re-created topic, partitions added, retention deleting offsets before
they are landed, and ``make recompute`` while a cycle of other partitions commits: each
ends in the documented behaviour (docs/operations.md), with nothing lost silently.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from kafka import TopicPartition
from kafka.admin import NewPartitions

from batch_layer import load
from batch_layer.cycle import recompute, run_cycle
from batch_layer.plan import PartitionSet
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event
from lambda_common.kafka.broker import admin_client, end_offsets, ensure_topic
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

from .helpers import Lane, run_module, send_raw

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _events(seed: int, count: int) -> list[Event]:
    options = SyntheticOptions(
        seed=seed,
        count=count,
        start=NOW - timedelta(days=1),
        end=NOW - timedelta(hours=3),
        duplicate_fraction=0.0,
        late_fraction=0.0,
    )
    return list(SyntheticTweets(options))


def _send(settings: Settings, events: list[Event]) -> None:
    send_raw(settings, [(e.tweet_id.encode(), e.to_json_bytes()) for e in events])


def _raw_ids(settings: Settings) -> set[str]:
    with Warehouse(settings) as wh:
        return {str(r[0]) for r in wh.query("SELECT tweet_id FROM raw_tweets")}


def _masters(settings: Settings) -> dict[str, bytes]:
    store = S3ObjectStore(settings)
    return {k: store.get(k) for k in store.list_keys(f"master/topic={settings.kafka_topic}/")}


def _recreate(settings: Settings, partitions: int) -> None:
    topic = settings.kafka_topic
    admin = admin_client(settings)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 60
        while topic in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        admin.close()
    deadline = time.monotonic() + 60
    while True:  # the broker may still be removing the old topic's logs
        try:
            ensure_topic(settings, topic, partitions=partitions)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_a_re_created_topic_stops_the_batch_layer_until_reset_then_both_count(
    lane: Lane,
) -> None:
    settings = lane.settings
    first, second = _events(501, 300), _events(502, 400)
    _send(settings, first)
    run_cycle(settings)
    before = _masters(settings)
    _recreate(settings, partitions=3)
    _send(settings, second)  # the new topic passes the old offsets: same keys otherwise

    refused = run_module("batch_layer", "once", env=lane.env())
    assert refused.returncode == 1
    (line,) = [ln for ln in refused.stderr.splitlines() if ln.startswith("error:")]
    assert "was deleted and re-created" in line and "make batch-reset" in line, line
    assert _masters(settings) == before  # nothing rewritten

    unasked = run_module("batch_layer", "reset", env=lane.env())
    assert unasked.returncode == 1
    assert "make batch-reset registers Kafka topic" in unasked.stderr
    assert "not confirmed (no terminal)" in unasked.stderr
    reset = run_module("batch_layer", "reset", "--yes", env={**lane.env(), "LOG_LEVEL": "INFO"})
    assert reset.returncode == 0, reset.stderr
    assert "generation 1" in reset.stderr
    again = run_module("batch_layer", "reset", "--yes", env=lane.env())
    assert again.returncode == 1 and "nothing to reset" in again.stderr

    result = run_cycle(settings)
    assert result.events == len(second)
    after = _masters(settings)
    assert {k: after[k] for k in before} == before
    assert all("/gen=1/" in k for k in set(after) - set(before))
    assert _raw_ids(settings) == {e.tweet_id for e in first + second}
    with Warehouse(settings) as wh:
        ((events,),) = wh.query("SELECT SUM(events) FROM load_ledger")
    assert events == len(first) + len(second)


def test_added_partitions_are_landed_by_the_next_cycle(lane: Lane) -> None:
    settings = lane.settings
    _send(settings, _events(511, 300))
    run_cycle(settings)
    admin = admin_client(settings)
    try:
        admin.create_partitions({settings.kafka_topic: NewPartitions(total_count=5)})
    finally:
        admin.close()
    later = _events(512, 600)
    _send(settings, later)
    ends = end_offsets(settings)
    assert set(ends) == {0, 1, 2, 3, 4} and ends[3] + ends[4] > 0

    # A process with an explicit list does not take the new partitions: the horizon
    # holds, and make status FAILs naming each partition nobody lands.
    held = run_cycle(settings, now=NOW + timedelta(hours=2), only_partitions=[0, 1, 2])
    status = run_module("serving_layer", "status", env=lane.env())
    assert status.returncode == 1
    assert "batch.partition.3" in status.stdout and "never been landed" in status.stdout

    # One over all partitions (or i/n sets) picks them up.
    result = run_cycle(settings, now=NOW + timedelta(hours=2))
    assert result.horizon is not None and held.horizon is not None
    assert result.horizon > held.horizon
    with Warehouse(settings) as wh:
        landed = dict(
            wh.query(
                "SELECT kafka_partition, MAX(last_offset) + 1 FROM load_ledger "
                "GROUP BY kafka_partition"
            )
        )
    assert {p: landed.get(p, 0) for p in ends} == ends
    assert len(_raw_ids(settings)) == 900


def test_retention_expiry_is_recorded_shown_and_acknowledged(lane: Lane) -> None:
    settings = lane.settings
    _send(settings, _events(521, 150))
    run_cycle(settings)
    committed = end_offsets(settings)
    _send(settings, _events(522, 300))
    ends = end_offsets(settings)
    # Retention (here delete-records, the same move of the log start) takes half of
    # partition 0's offsets that the batch layer has not landed yet.
    cut = (committed[0] + ends[0]) // 2
    assert cut > committed[0]
    admin = admin_client(settings)
    try:
        admin.delete_records({TopicPartition(settings.kafka_topic, 0): cut})
    finally:
        admin.close()
    result = run_cycle(settings)
    assert result.lost == cut - committed[0]
    assert result.events == 300 - result.lost
    with Warehouse(settings) as wh:
        rows = wh.query(
            "SELECT kafka_partition, first_offset, last_offset, acknowledged_at FROM lost_offsets"
        )
    assert [r[:3] for r in rows] == [(0, committed[0], cut - 1)]
    assert rows[0][3] is None
    status = run_module("serving_layer", "status", env=lane.env())
    assert status.returncode == 1
    assert "expired before the batch layer landed them" in status.stdout

    unasked = run_module("batch_layer", "ack-loss", env=lane.env())
    assert unasked.returncode == 1
    shown = f"generation 0, partition 0: offsets {committed[0]}..{cut - 1}"
    assert shown in unasked.stderr and "not confirmed (no terminal)" in unasked.stderr
    ack = run_module("batch_layer", "ack-loss", "--yes", env=lane.env())
    assert ack.returncode == 0, ack.stderr
    status = run_module("serving_layer", "status", env=lane.env())
    assert "acknowledged" in status.stdout
    assert "expired before the batch layer landed them" not in status.stdout


def test_recompute_keeps_a_cycle_that_commits_while_it_runs(
    lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = lane.settings
    _send(settings, _events(531, 300))
    run_cycle(settings, only_partitions=[0, 2])
    # Partition 1's cycle lands its objects while recompute holds the batch lock, and
    # commits once recompute is done: its rows must be there at the end.
    cycle_error: list[BaseException] = []

    def cycle_on_1() -> None:
        try:
            run_cycle(settings, only_partitions=PartitionSet.parse("1"))
        except BaseException as e:
            cycle_error.append(e)

    other = threading.Thread(target=cycle_on_1)
    real = load.failpoint

    def at(name: str) -> None:
        if name == "recompute_locked":
            other.start()
            time.sleep(3)  # the cycle lands its objects, then waits for the lock
        real(name)

    monkeypatch.setattr(load, "failpoint", at)
    recompute(settings)
    other.join(timeout=120)
    assert not cycle_error, cycle_error
    assert len(_raw_ids(settings)) == 300
    with Warehouse(settings) as wh:
        ((events,),) = wh.query("SELECT SUM(events) FROM load_ledger")
    assert events == 300
