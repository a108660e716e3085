"""The batch cycle's decisions against the in-memory event log, store and warehouse.

Each test is one thing operators or failures do to a topic (a crash, a re-created
topic, added partitions, retention, a broker error mid-cycle), run through the real
``cycle`` code in milliseconds.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from batch_layer.cycle import Services, archive, cycle
from batch_layer.landing import PartitionPlan, plan_key, plans_prefix
from batch_layer.parallel import MasterConflict
from batch_layer.plan import (
    PartitionSet,
    TopicChanged,
    choose_horizon,
    horizon_for,
    plan_partition,
)
from batch_layer.target import Incarnation, InMemoryBatchTarget, check_incarnation
from lambda_common.contract import Event
from lambda_common.errors import ConfigError, ServiceUnavailable
from lambda_common.kafka.eventlog import InMemoryEventLog, Offsets
from lambda_common.objectstore import InMemoryObjectStore
from tests.unit.test_landed import older_form

pytestmark = pytest.mark.unit

TOPIC = "tweets"
NOW = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
LATENESS = 3600
TS = int(NOW.timestamp() * 1000)


def _event(i: int, created_at: datetime | None = None) -> bytes:
    return Event(
        tweet_id=str(1000 + i),
        created_at=created_at or datetime(2026, 11, 21, 8, 15, i % 60, tzinfo=UTC),
        user_id="u",
        followers_count=10,
        favorite_count=i,
        retweet_count=0,
        location="Oslo",
    ).to_json_bytes()


class World:
    """An in-memory topic, bucket and warehouse, and a way to run cycles on them."""

    def __init__(self, partitions: int = 2) -> None:
        self.log = InMemoryEventLog()
        self.topic_id = self.log.create(TOPIC, partitions)
        self.store = InMemoryObjectStore()
        self.store.ensure_bucket()
        self.target = InMemoryBatchTarget()
        self.next_id = 0

    def produce(self, count: int, partition: int | None = None) -> None:
        parts = len(self.log.topics[TOPIC].partitions)
        for _ in range(count):
            i = self.next_id
            self.next_id += 1
            self.log.append(TOPIC, i % parts if partition is None else partition, _event(i), TS)

    def run(self, now: datetime = NOW, partitions: PartitionSet | None = None):  # type: ignore[no-untyped-def]
        services = Services(self.log, self.store, self.target)
        return cycle(services, TOPIC, LATENESS, now=now, partitions=partitions)

    def loaded_offsets(self) -> int:
        return sum(o.last_offset - o.first_offset + 1 for o in self.target.ledger.values())

    def masters(self) -> dict[str, bytes]:
        return {k: v for k, v in self.store.objects.items() if k.startswith("master/")}

    def landed_then_died(self, count: int) -> str:
        """Land ``count`` events in one partition's one object, failing the load: the key."""
        self.produce(count)
        self.target.fail_publish = 1
        with pytest.raises(ServiceUnavailable):
            self.run()
        (key,) = self.masters()
        return key


def test_a_cycle_lands_everything_and_commits_and_a_rerun_changes_nothing() -> None:
    world = World()
    world.produce(10)
    result = world.run()
    assert (result.events, result.rejects, result.objects, result.loaded) == (10, 0, 2, True)
    assert result.horizon == horizon_for(NOW, LATENESS)
    assert world.log.committed == {(TOPIC, 0): 5, (TOPIC, 1): 5}
    again = world.run(NOW + timedelta(minutes=5))
    assert (again.objects, again.loaded) == (0, False)
    assert len(world.target.loads) == 1


def test_a_failed_publish_is_redone_with_the_same_plan_and_objects() -> None:
    world = World()
    world.produce(10)
    world.target.fail_publish = 1
    with pytest.raises(ServiceUnavailable):
        world.run()
    first = world.masters()
    assert world.log.committed == {}  # offsets stay until the data is loaded
    world.produce(4)  # arrived since: a plan of its own after the resumed one
    result = world.run(NOW + timedelta(minutes=1))
    assert {k: world.store.objects[k] for k in first} == first
    assert result.events == 14
    assert world.loaded_offsets() == 14
    assert world.log.committed == {(TOPIC, 0): 7, (TOPIC, 1): 7}


def test_a_redo_judges_the_future_with_the_first_attempts_clock() -> None:
    # 70 minutes ahead of the first attempt: a reject then; 10 minutes later it would be
    # valid. A redo must judge it as the plan did, or it would rewrite the object with
    # the event in it while the ledger skips the load: never counted.
    world = World(partitions=1)
    ahead = NOW + timedelta(minutes=70)
    world.log.append(TOPIC, 0, _event(1, created_at=ahead), TS)
    world.log.append(TOPIC, 0, _event(2), TS)
    world.target.fail_publish = 1
    with pytest.raises(ServiceUnavailable):
        world.run()
    first = world.masters()
    result = world.run(NOW + timedelta(minutes=15))
    assert (result.events, result.rejects) == (1, 1)
    assert world.masters() == first
    (plan_body,) = [v for k, v in world.store.objects.items() if k.startswith("plans/")]
    assert PartitionPlan.from_json(plan_body).judged_at == NOW.isoformat()


def test_a_master_object_is_never_overwritten_with_other_bytes() -> None:
    world = World(partitions=1)
    key = world.landed_then_died(3)
    world.store.objects[key] = gzip.compress(b"something else\n")
    with pytest.raises(MasterConflict, match="refusing to overwrite"):
        world.run()
    assert world.store.objects[key] == gzip.compress(b"something else\n")
    assert world.target.ledger == {}


def test_a_redo_keeps_an_object_an_earlier_version_landed_in_its_older_form() -> None:
    # A cycle of the previous version landed the chunk, then died before its load; this
    # version's redo computes other bytes for the same rows (its line form changed).
    world = World(partitions=1)
    key = world.landed_then_died(3)
    older = older_form(world.store.objects[key])
    world.store.objects[key] = older
    result = world.run()
    assert (result.events, result.loaded) == (3, True)
    assert world.store.objects[key] == older  # kept, never rewritten
    assert world.target.ledger[key].older_form
    assert world.log.committed == {(TOPIC, 0): 3}


def test_a_re_created_topic_stops_the_cycle_until_a_reset_then_lands_the_new_one() -> None:
    world = World(partitions=1)
    world.produce(5)
    world.run()
    old_keys = set(world.masters())
    # Deleted and re-created, and the new topic passes the old offsets: without the
    # topic's identity, the old plan keys would be resumed and the objects rewritten.
    world.log.delete(TOPIC)
    new_id = world.log.create(TOPIC, 1)
    world.produce(8)
    with pytest.raises(TopicChanged, match=r"deleted and re-created.*make batch-reset"):
        world.run(NOW + timedelta(minutes=1))
    assert set(world.masters()) == old_keys
    assert world.log.committed == {}

    def retire() -> None:
        for key in world.store.list_keys(plans_prefix(TOPIC)):
            archive(world.store, key, "reset-test")
        world.log.forget(TOPIC, [0])

    assert world.target.reset(TOPIC, new_id, NOW, retire) == 1
    result = world.run(NOW + timedelta(minutes=2))
    assert result.events == 8
    new_keys = set(world.masters()) - old_keys
    assert len(new_keys) == 1 and all("/gen=1/" in k for k in new_keys)
    assert world.loaded_offsets() == 13
    assert world.store.list_keys("plans-archive/reset-test/")


def test_a_committed_offset_past_the_end_means_another_topic() -> None:
    with pytest.raises(TopicChanged, match="past the partition's end 3"):
        plan_partition(
            TOPIC,
            0,
            Offsets(beginning=0, end=3, committed=9),
            topic_id=None,
            generation=0,
            judged_at=NOW,
            stored_plan=lambda key: None,
        )


def test_a_stored_plan_of_another_incarnation_is_refused() -> None:
    old = PartitionPlan(TOPIC, 0, 0, 5, topic_id="old-id", judged_at=NOW.isoformat())
    with pytest.raises(TopicChanged, match="another incarnation"):
        plan_partition(
            TOPIC,
            0,
            Offsets(beginning=0, end=9, committed=None),
            topic_id="new-id",
            generation=0,
            judged_at=NOW,
            stored_plan=lambda key: old if key == old.key else None,
        )


def test_the_first_topic_id_is_registered_and_another_one_is_refused() -> None:
    assert check_incarnation(TOPIC, None, "a") == (0, True)
    assert check_incarnation(TOPIC, Incarnation(2, "a"), "a") == (2, False)
    assert check_incarnation(TOPIC, Incarnation(2, "a"), None) == (2, False)
    with pytest.raises(TopicChanged):
        check_incarnation(TOPIC, Incarnation(0, "a"), "b")


def test_added_partitions_are_landed_by_the_next_cycle_over_all_partitions() -> None:
    world = World(partitions=2)
    world.produce(4)
    world.run()
    world.log.add_partitions(TOPIC, 3)
    world.produce(6)
    result = world.run(NOW + timedelta(hours=1))
    assert world.log.committed[(TOPIC, 2)] == 2
    assert world.loaded_offsets() == 10
    assert result.horizon == horizon_for(NOW + timedelta(hours=1), LATENESS)


def test_with_modulo_sets_a_new_partition_has_an_owner_with_lists_it_holds_the_horizon() -> None:
    world = World(partitions=2)
    world.produce(4)
    for spec in ("0/2", "1/2"):
        world.run(partitions=PartitionSet.parse(spec))
    world.log.add_partitions(TOPIC, 3)
    world.produce(6)
    later = NOW + timedelta(hours=2)
    world.run(later, PartitionSet.parse("1/2"))
    held = world.run(later, PartitionSet.parse("0/2"))  # 0 and 2: the new one is owned
    assert held.horizon == horizon_for(later, LATENESS)
    assert world.loaded_offsets() == 10

    listed = World(partitions=2)
    listed.produce(4)
    for spec in ("0", "1"):
        listed.run(partitions=PartitionSet.parse(spec))
    before = listed.target.horizon
    listed.log.add_partitions(TOPIC, 3)
    listed.produce(3)
    for spec in ("0", "1"):
        result = listed.run(later, PartitionSet.parse(spec))
    # Partition 2 belongs to no list: its offsets wait and the horizon stays (make status
    # FAILs on the partition without a watermark).
    assert result.horizon == before
    assert (TOPIC, 2) not in listed.log.committed


def test_retention_expiry_is_recorded_as_a_loss_and_landing_goes_on() -> None:
    world = World(partitions=1)
    world.produce(3)
    world.run()
    world.produce(10)  # offsets 3..12
    world.log.expire(TOPIC, 0, before=8)  # 3..7 deleted before the batch layer read them
    result = world.run(NOW + timedelta(minutes=1))
    assert (result.events, result.lost) == (5, 5)
    (loss,) = world.target.unacknowledged()
    assert (loss.partition, loss.first, loss.last) == (0, 3, 7)
    assert world.log.committed[(TOPIC, 0)] == 13
    assert "5 offsets lost to retention" in result.summary()
    shown = world.target.open_losses(TOPIC)
    assert [(k.partition, k.first, k.last) for k in shown] == [(0, 3, 7)]
    # A loss recorded after the operator looked is not acknowledged with the ones shown.
    world.produce(5, partition=0)  # offsets 13..17, of which 13..15 expire unread
    world.log.expire(TOPIC, 0, before=16)
    world.run(NOW + timedelta(minutes=2))
    assert len(world.target.open_losses(TOPIC)) == 2
    assert world.target.acknowledge_losses(TOPIC, NOW, shown) == 1
    assert [(k.first, k.last) for k in world.target.open_losses(TOPIC)] == [(13, 15)]
    assert world.target.acknowledge_losses(TOPIC, NOW, shown) == 0


def test_retention_past_the_end_still_moves_the_commit_past_the_lost_range() -> None:
    world = World(partitions=1)
    world.produce(2)
    world.run()
    world.produce(4)  # 2..5
    world.log.expire(TOPIC, 0, before=6)
    result = world.run(NOW + timedelta(minutes=1))
    assert (result.events, result.lost) == (0, 4)
    assert world.log.committed[(TOPIC, 0)] == 6


def test_an_unfinished_plan_whose_offsets_expired_is_archived_and_its_range_lost() -> None:
    world = World(partitions=1)
    world.produce(2)
    world.run()
    world.produce(6)  # 2..7
    world.target.fail_publish = 1
    with pytest.raises(ServiceUnavailable):
        world.run(NOW + timedelta(minutes=1))
    world.log.expire(TOPIC, 0, before=4)
    result = world.run(NOW + timedelta(minutes=2))
    assert (result.events, result.lost) == (4, 2)
    assert world.store.list_keys("plans-archive/")
    assert not world.store.exists(plan_key(TOPIC, 0, 2))
    assert world.log.committed[(TOPIC, 0)] == 8


def test_a_kafka_error_mid_cycle_is_a_service_error_and_the_retry_lands_once() -> None:
    world = World()
    world.produce(10)
    world.log.fail_reads = 1
    with pytest.raises(ServiceUnavailable, match="broker down"):
        world.run()
    assert world.log.committed == {}
    result = world.run(NOW + timedelta(minutes=1))
    assert result.events == 10
    assert world.loaded_offsets() == 10


def test_recompute_lists_the_objects_only_once_the_lock_is_held() -> None:
    world = World()
    world.produce(4)
    world.run()
    order: list[str] = []
    world.target.on_lock = lambda: order.append("lock")

    def objects():  # type: ignore[no-untyped-def]
        order.append("list")
        return list(world.target.ledger.values())

    assert world.target.recompute(TOPIC, objects, "r") == 2
    assert order == ["lock", "list"]


def test_partition_sets() -> None:
    assert PartitionSet.parse("").choose((0, 1, 2)) == [0, 1, 2]
    assert PartitionSet.parse("2,0").choose((0, 1, 2)) == [0, 2]
    assert PartitionSet.parse("1/2").choose((0, 1, 2, 3)) == [1, 3]
    assert PartitionSet.parse(" 0 / 3 ").label == "0/3"
    assert PartitionSet.parse("1,0").label == "0,1"
    for bad in ("2/2", "a", "-1", "0/0"):
        with pytest.raises(ConfigError, match="PARTITIONS"):
            PartitionSet.parse(bad)


def test_the_horizon_never_moves_back() -> None:
    early, late = datetime(2026, 1, 1, 1), datetime(2026, 1, 1, 5)
    assert choose_horizon(early, late) == late
    assert choose_horizon(late, early) == late
    assert choose_horizon(None, late) == late
    assert choose_horizon(None, None) is None
