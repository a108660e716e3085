"""Incremental equals full: a cycle rebuilds only the hours it touched, and after every
cycle each batch table equals a full rebuild from the raw tables.

Random sequences of cycles run through the real ``cycle`` code against the in-memory
event log, store and warehouse (which keeps raw rows and batch tables by the same rule as
the real one): late events within and beyond ALLOWED_LATENESS, duplicates within and
across cycles (some with another ``created_at``), horizon moves of zero to several hours,
partitions added, and a view whose definition changes mid-way. The rule's own cases are
tested directly on :mod:`batch_layer.hours`.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batch_layer import hours as hours_module
from batch_layer.cycle import Services, cycle
from batch_layer.hours import (
    BEGINNING,
    HourRange,
    day_ranges,
    full_range,
    hours_in,
    plan_rebuild,
    rebuild_ranges,
)
from batch_layer.target import InMemoryBatchTarget
from lambda_common.contract import Event
from lambda_common.kafka.eventlog import InMemoryEventLog
from lambda_common.objectstore import InMemoryObjectStore
from lambda_common.views import Key, View, load_views

pytestmark = pytest.mark.unit

TOPIC = "tweets"
LATENESS = 3600
START = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
H = timedelta(hours=1)


def _h(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour)


# -- the rule ------------------------------------------------------------------------------


def test_the_first_horizon_rebuilds_everything_before_it() -> None:
    assert rebuild_ranges([_h(20, 3)], None, _h(21, 10)) == [HourRange(BEGINNING, _h(21, 10))]


def test_a_moved_horizon_rebuilds_the_hours_it_moved_over_and_the_late_hours() -> None:
    loaded = [_h(21, 9), _h(21, 2), _h(21, 2), _h(21, 11), _h(21, 13)]
    assert rebuild_ranges(loaded, _h(21, 10), _h(21, 12)) == [
        HourRange(_h(21, 2), _h(21, 3)),
        HourRange(_h(21, 9), _h(21, 12)),  # 9 is late and adjacent to [10, 12)
    ]


def test_an_unmoved_horizon_rebuilds_only_the_late_hours_and_nothing_without_them() -> None:
    assert rebuild_ranges([_h(21, 4), _h(21, 10)], _h(21, 10), _h(21, 10)) == [
        HourRange(_h(21, 4), _h(21, 5))
    ]
    assert rebuild_ranges([_h(21, 10), _h(21, 15)], _h(21, 10), _h(21, 10)) == []
    assert rebuild_ranges([], _h(21, 10), _h(21, 10)) == []


def test_scattered_late_hours_are_capped_by_closing_the_smallest_gaps() -> None:
    loaded = [_h(1, 0), _h(1, 2), _h(1, 10), _h(5, 0), _h(5, 1) + 2 * H]
    ranges = rebuild_ranges(loaded, _h(21, 0), _h(21, 1), limit=3)
    assert len(ranges) == 3
    covered = {h for h in loaded} | {_h(21, 0)}
    for hour in covered:
        assert any(r.since <= hour < r.until for r in ranges), hour
    # Six ranges: the three smallest gaps (1, 2 and 7 hours) closed, the days-long kept.
    assert ranges == [
        HourRange(_h(1, 0), _h(1, 11)),
        HourRange(_h(5, 0), _h(5, 4)),
        HourRange(_h(21, 0), _h(21, 1)),
    ]
    assert hours_in(ranges) == 11 + 4 + 1


def test_the_horizon_never_moves_back() -> None:
    with pytest.raises(ValueError, match="never moves back"):
        rebuild_ranges([], _h(21, 10), _h(21, 9))


def test_day_ranges_cover_whole_days() -> None:
    assert day_ranges([HourRange(_h(20, 23), _h(21, 2))]) == [HourRange(_h(20, 0), _h(22, 0))]
    assert day_ranges(full_range(_h(21, 0))) == [HourRange(BEGINNING, _h(21, 0))]


def test_a_stale_view_is_rebuilt_in_full_and_the_others_only_where_touched() -> None:
    plan = plan_rebuild(["a", "b"], {"b"}, [_h(21, 3)], _h(21, 10), _h(21, 10))
    assert plan == {"a": [HourRange(_h(21, 3), _h(21, 4))], "b": full_range(_h(21, 10))}
    assert plan_rebuild(["a"], set(), [], _h(21, 10), _h(21, 10)) == {}


# -- random sequences of cycles --------------------------------------------------------------


class Lab:
    """A topic, a bucket and the in-memory warehouse keeping raw rows and batch tables."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.log = InMemoryEventLog()
        self.log.create(TOPIC, 2)
        self.store = InMemoryObjectStore()
        self.store.ensure_bucket()
        self.target = InMemoryBatchTarget(store=self.store, views=load_views())
        self.now = START
        self.sent: list[Event] = []

    def _event(self, created_at: datetime) -> Event:
        rng = self.rng
        if self.sent and rng.random() < 0.15:
            # A duplicate: the same tweet id, sometimes with another hour and location.
            first = rng.choice(self.sent)
            if rng.random() < 0.5:
                return dataclasses.replace(first, created_at=created_at, location="Elsewhere")
            return first
        return Event(
            tweet_id=str(10_000 + len(self.sent) + rng.randrange(10**9) * 100_000),
            created_at=created_at,
            user_id=f"u{rng.randrange(5)}",
            followers_count=rng.randrange(1000),
            favorite_count=rng.randrange(50),
            retweet_count=rng.randrange(20),
            location=rng.choice(["Oslo", " Lima ", None, "", "Kyiv"]),
            lang=rng.choice(["en", "ES", None]),
            hashtags=tuple(rng.sample(["a", "#B", " c ", "b"], rng.randrange(3))),
        )

    def produce(self, count: int) -> None:
        parts = len(self.log.topics[TOPIC].partitions)
        for _ in range(count):
            kind = self.rng.random()
            if kind < 0.55:  # recent: at or after the horizon
                created = self.now - timedelta(minutes=self.rng.randrange(120))
            elif kind < 0.8:  # late, within ALLOWED_LATENESS of the last cycle
                created = self.now - timedelta(minutes=self.rng.randrange(120, 200))
            else:  # far late: days back
                created = self.now - timedelta(hours=self.rng.randrange(3, 200))
            event = self._event(created)
            if event not in self.sent:
                self.sent.append(event)
            ts = int(self.now.timestamp() * 1000)
            # Producers key by tweet_id: copies share a partition.
            partition = int(event.tweet_id) % parts
            self.log.append(TOPIC, partition, event.to_json_bytes(), ts)

    def step(self) -> None:
        rng = self.rng
        self.produce(rng.randrange(0, 40))
        if rng.random() < 0.1:
            self.log.add_partitions(TOPIC, len(self.log.topics[TOPIC].partitions) + 1)
        if rng.random() < 0.08:
            self.change_a_view()
        self.now += timedelta(minutes=rng.choice([0, 0, 20, 60, 60, 130, 300]))
        cycle(Services(self.log, self.store, self.target), TOPIC, LATENESS, now=self.now)

    def change_a_view(self) -> None:
        """The languages view redefined (grouped by location instead): its table must be
        rebuilt in full once, or the old definition's rows would stay."""
        views = list(self.target.views)
        i = next(i for i, v in enumerate(views) if v.name == "languages")
        old = views[i]
        key = (
            Key("location", "varchar(800)")
            if old.keys[0].name == "lang"
            else Key("lang", "varchar(140)")
        )
        views[i] = dataclasses.replace(
            old, keys=(key,), select=old.select.replace(old.keys[0].name, key.name)
        )
        self.target.views = tuple(views)

    def mismatches(self) -> list[str]:
        full = self.target.full_tables()
        return [name for name in full if self.target.batch.get(name, {}) != full[name]]


def _run(seed: int, cycles: int = 12) -> Lab:
    lab = Lab(seed)
    for n in range(cycles):
        lab.step()
        assert lab.mismatches() == [], f"seed {seed}, after cycle {n + 1}"
    return lab


@pytest.mark.parametrize("seed", range(40))
def test_after_every_cycle_each_batch_table_equals_a_full_rebuild(seed: int) -> None:
    lab = _run(seed)
    assert lab.target.horizon is not None
    assert any(lab.target.batch.values()), "the sequence built no batch rows"


def test_the_cycles_after_the_first_are_incremental() -> None:
    lab = _run(7, cycles=15)
    later = lab.target.rebuilt[1:]
    assert later, "no cycle after the first rebuilt anything"
    partial = [plan for plan in later if not any(r[0].is_full for r in plan.values())]
    assert partial, "every cycle rebuilt in full: the incremental path was never taken"


def test_a_changed_view_is_rebuilt_in_full_once_and_the_others_stay_incremental() -> None:
    lab = _run(3, cycles=4)
    lab.change_a_view()
    lab.step()
    plan = lab.target.rebuilt[-1]
    assert plan["languages"][0].is_full
    assert not plan["locations"][0].is_full
    assert lab.mismatches() == []
    lab.produce(5)
    lab.now += H
    cycle(Services(lab.log, lab.store, lab.target), TOPIC, LATENESS, now=lab.now)
    assert not lab.target.rebuilt[-1]["languages"][0].is_full


def test_make_rebuild_views_repairs_an_edited_batch_table() -> None:
    lab = _run(5, cycles=5)
    table = lab.target.batch["locations"]
    key = next(iter(table))
    table[key] = (999, 0, 0, 0)
    assert lab.mismatches() == ["locations"]
    assert lab.target.rebuild_views() == lab.target.horizon
    assert lab.mismatches() == []


def test_the_property_catches_a_rule_that_forgets_the_late_hours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above can fail: with a rule that drops the late rows' hours (only the
    hours the horizon moved over), some sequence ends with a stale batch table."""
    real = hours_module.rebuild_ranges

    def forgetful(loaded: Any, old: datetime | None, new: datetime, **kw: Any) -> Any:
        return real([], old, new, **kw)

    monkeypatch.setattr(hours_module, "rebuild_ranges", forgetful)
    caught = 0
    for seed in range(10):
        lab = Lab(seed)
        for _ in range(12):
            lab.step()
            if lab.mismatches():
                caught += 1
                break
    assert caught > 0


def test_view_change_helper_changes_the_fingerprint() -> None:
    lab = Lab(0)
    before = {v.name: v.fingerprint for v in lab.target.views}
    lab.change_a_view()
    after = {v.name: v.fingerprint for v in lab.target.views}
    assert before["languages"] != after["languages"]
    assert before["locations"] == after["locations"]
    assert isinstance(lab.target.views[0], View)
