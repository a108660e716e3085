"""Where a batch cycle publishes: the interface, and an in-memory one for unit tests.

``BatchTarget`` is what the cycle needs of the warehouse: the topic's registered
incarnations, one atomic publish (load what the ledger lacks, record losses, move the
watermarks and the horizon), the rebuild from the master dataset, and the operator's
reset and acknowledgement. ``load.BatchWarehouse`` is the real one (PostgreSQL or
Redshift); ``InMemoryBatchTarget`` keeps the same bookkeeping in dictionaries, so the
cycle's decisions are tested without services.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batch_layer.hours import HourRange, full_range, plan_rebuild
from batch_layer.landing import LandedObject, read_master_object
from batch_layer.plan import RESET_HINT, Loss, TopicChanged, choose_horizon
from lambda_common.contract.rows import row_from_master
from lambda_common.errors import LambdaError, ServiceUnavailable
from lambda_common.objectstore import ObjectStore
from lambda_common.views import View


@dataclass(frozen=True)
class Coverage:
    """What a cycle can vouch for: ``handled`` partitions were read up to the end offsets
    seen at the cycle's start, so their events before ``horizon`` are all landed.
    ``partitions`` are all the topic's partitions: the global horizon waits for each."""

    topic: str
    handled: tuple[int, ...]
    partitions: tuple[int, ...]
    horizon: datetime


@dataclass(frozen=True)
class Publication:
    """What a cycle hands its target to publish in one transaction: the ``objects`` it
    landed (``cycle_id`` names them), what it vouches for (``coverage``), the offset
    ``losses`` it found, and its start (``now``)."""

    objects: list[LandedObject]
    cycle_id: str
    coverage: Coverage
    losses: list[Loss]
    now: datetime

    def parts(self) -> tuple[list[LandedObject], str, Coverage, list[Loss], datetime]:
        """The fields, in order (no copies)."""
        return self.objects, self.cycle_id, self.coverage, self.losses, self.now


@dataclass(frozen=True)
class Incarnation:
    """One registered incarnation of a topic (a row of ``batch_topics``)."""

    generation: int
    topic_id: str


def check_incarnation(
    topic: str, newest: Incarnation | None, topic_id: str | None
) -> tuple[int, bool]:
    """The generation a cycle works in, and whether ``topic_id`` must be registered.

    The first id seen is generation 0. Another id than the newest registered one means
    the topic was deleted and re-created: ``TopicChanged`` until ``make batch-reset``.
    A broker that reports no ids (before Kafka 2.8) keeps the newest generation.
    """
    if newest is None:
        return 0, topic_id is not None
    if topic_id is None or topic_id == newest.topic_id:
        return newest.generation, False
    raise TopicChanged(
        f"Kafka topic {topic!r} was deleted and re-created (its id is now {topic_id}; the "
        f"batch layer has been reading {newest.topic_id}): offsets of the old topic that "
        f"were not landed yet are gone with it. To land the new topic run {RESET_HINT}"
    )


class RecomputeRefused(LambdaError):
    """``make recompute`` would clear rows it cannot load again."""


def check_recompute(topic: str, found: int, ledger: dict[str, int]) -> None:
    """Refuse a recompute that would lose data: it clears the raw tables and the ledger
    whole, then loads what the master dataset holds for ``topic``. So the ledger must
    hold no other topic's objects, and must not hold this topic's while none were found
    (the master dataset is the source of truth; finding nothing where the ledger has
    loaded objects means the settings point elsewhere)."""
    others = {t: n for t, n in ledger.items() if t != topic}
    if others:
        named = ", ".join(f"{t!r} ({n} objects)" for t, n in sorted(others.items()))
        raise RecomputeRefused(
            f"refusing to recompute: the load ledger also holds topic {named}, whose rows "
            f"a recompute of {topic!r} would delete and not load again (check KAFKA_TOPIC)"
        )
    if found == 0 and ledger.get(topic, 0) > 0:
        raise RecomputeRefused(
            f"refusing to recompute: no master objects of topic {topic!r} were found in "
            f"S3, but the load ledger holds {ledger[topic]} of them (check KAFKA_TOPIC and "
            "S3_BUCKET); nothing was cleared"
        )


class BatchTarget(ABC):
    """The batch layer's side of the warehouse."""

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create the pipeline's tables if missing (idempotent)."""

    @abstractmethod
    def generation(self, topic: str, topic_id: str | None, now: datetime) -> int:
        """The topic's current generation, registering its first id (see
        :func:`check_incarnation`); ``TopicChanged`` on another id."""

    @abstractmethod
    def publish(self, cycle: Publication) -> tuple[bool, datetime | None]:
        """In one transaction: load ``objects`` the ledger lacks, record ``losses``, move
        the handled partitions' watermarks and the horizon (never backwards), rebuild the
        batch view. Returns (whether anything was loaded, the horizon now in force)."""

    @abstractmethod
    def recompute(
        self, topic: str, objects: Callable[[], list[LandedObject]], cycle_id: str
    ) -> int:
        """Rebuild the tables from the master dataset: ``objects`` is called only once the
        batch lock is held, so a cycle committing meanwhile is not lost. Returns the
        number of objects."""

    @abstractmethod
    def rebuild_views(self) -> datetime | None:
        """Rebuild every batch table in full from the raw tables at the current horizon,
        in one transaction; returns the horizon (None before the first cycle: nothing
        done)."""

    @abstractmethod
    def reset(self, topic: str, topic_id: str, now: datetime, retire: Callable[[], None]) -> int:
        """Register ``topic_id`` as a new generation, holding the batch lock while
        ``retire`` archives the old plans and forgets the group's offsets; the topic's
        watermarks start anew. Returns the new generation."""

    @abstractmethod
    def open_losses(self, topic: str) -> list[Loss]:
        """The topic's recorded losses no operator has acknowledged yet, in key order."""

    @abstractmethod
    def acknowledge_losses(self, topic: str, now: datetime, losses: list[Loss]) -> int:
        """Mark exactly ``losses`` (still open) acknowledged; returns how many."""


Sums = tuple[int, int, int, int]
"""A view row's measures: tweet_count, followers_sum, favorite_sum, retweet_sum."""


def _row_hour(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(row["event_hour"]))


def aggregate(
    view: View, rows: Iterable[dict[str, Any]], ranges: Iterable[HourRange]
) -> dict[tuple[Any, ...], Sums]:
    """The view over raw rows (``lambda_common.contract.rows.event_row``'s form) in ``ranges``,
    in memory: the relation the view reads (a row per tweet, or per tweet and hashtag
    key), grouped by the view's key columns with the contract's measures. This is what
    every shipped view's SELECT computes; the in-memory target uses it in place of SQL."""
    spans = list(ranges)
    out: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        hour = _row_hour(row)
        if not any(r.since <= hour < r.until for r in spans):
            continue
        tags = row["hashtags"] if view.reads == "tweet_hashtags" else [None]
        for tag in tags:
            fields = {**row, "event_hour": hour, "hashtag": tag}
            key = tuple(fields[c] for c in view.key_columns)
            sums = out.setdefault(key, [0, 0, 0, 0])
            sums[0] += 1
            sums[1] += int(row["followers_count"])
            sums[2] += int(row["favorite_count"])
            sums[3] += int(row["retweet_count"])
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


@dataclass
class InMemoryBatchTarget(BatchTarget):
    """The warehouse's bookkeeping in dictionaries (ledger, watermarks, horizon), for
    unit tests of the cycle. Given ``store`` it also keeps the raw rows (loaded from the
    master objects, de-duplicated as the warehouse does) and each view's batch table,
    maintained by the same rule as the real one (:func:`batch_layer.hours.plan_rebuild`),
    so the incremental tables can be compared with :meth:`full_tables`."""

    ledger: dict[str, LandedObject] = field(default_factory=dict)
    loads: list[list[str]] = field(default_factory=list)
    watermarks: dict[tuple[str, int], datetime] = field(default_factory=dict)
    horizon: datetime | None = None
    incarnations: dict[str, list[Incarnation]] = field(default_factory=dict)
    losses: dict[tuple[str, int, int, int], tuple[Loss, datetime | None]] = field(
        default_factory=dict
    )
    fail_publish: int = 0  # the next N publishes fail before committing anything
    on_lock: Callable[[], None] | None = None  # called once the batch lock is "held"
    store: ObjectStore | None = None
    views: tuple[View, ...] = ()
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch: dict[str, dict[tuple[Any, ...], Sums]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    rebuilt: list[dict[str, list[HourRange]]] = field(default_factory=list)

    def ensure_schema(self) -> None:
        return None

    def generation(self, topic: str, topic_id: str | None, now: datetime) -> int:
        known = self.incarnations.get(topic, [])
        generation, register = check_incarnation(topic, known[-1] if known else None, topic_id)
        if register and topic_id is not None:
            self.incarnations.setdefault(topic, []).append(Incarnation(generation, topic_id))
        return generation

    def publish(self, cycle: Publication) -> tuple[bool, datetime | None]:
        objects, coverage, losses = cycle.objects, cycle.coverage, cycle.losses
        if self.on_lock is not None:
            self.on_lock()
        if self.fail_publish:
            self.fail_publish -= 1
            raise ServiceUnavailable("warehouse at memory: connection lost")
        missing = [o for o in objects if o.key not in self.ledger]
        for obj in missing:
            self.ledger[obj.key] = obj
        if missing:
            self.loads.append([o.key for o in missing])
        new_hours = self._load(missing)
        old = self.horizon
        for loss in losses:
            key = (loss.topic, loss.generation, loss.partition, loss.first)
            self.losses[key] = (loss, None)
        for partition in coverage.handled:
            mark = self.watermarks.get((coverage.topic, partition))
            if mark is None or mark < coverage.horizon:
                self.watermarks[(coverage.topic, partition)] = coverage.horizon
        marks = [self.watermarks.get((coverage.topic, p)) for p in coverage.partitions]
        covered = None if any(m is None for m in marks) else min(m for m in marks if m)
        self.horizon = choose_horizon(covered, self.horizon)
        if self.horizon is not None and self.store is not None:
            stale = {v.name for v in self.views if self.fingerprints.get(v.name) != v.fingerprint}
            names = [v.name for v in self.views]
            self._rebuild(plan_rebuild(names, stale, new_hours, old, self.horizon))
        return bool(missing), self.horizon

    def _load(self, objects: list[LandedObject]) -> set[datetime]:
        """The objects' rows into ``raw``: the first copy of a tweet id (lowest offset)
        wins, one already loaded is never replaced. Returns the new rows' hours."""
        if self.store is None:
            return set()
        staged = [
            row_from_master(record)
            for obj in objects
            for record in read_master_object(self.store.get(obj.key))
        ]
        staged.sort(key=lambda r: (int(r["kafka_offset"]), int(r["kafka_partition"])))
        hours: set[datetime] = set()
        for row in staged:
            if row["tweet_id"] not in self.raw:
                self.raw[row["tweet_id"]] = row
                hours.add(_row_hour(row))
        return hours

    def _rebuild(self, plan: dict[str, list[HourRange]]) -> None:
        by_name = {v.name: v for v in self.views}
        for name, ranges in plan.items():
            view = by_name[name]
            table = {
                k: v
                for k, v in self.batch.get(name, {}).items()
                if not any(r.since <= k[0] < r.until for r in ranges)
            }
            table.update(aggregate(view, self.raw.values(), ranges))
            self.batch[name] = table
            if ranges[0].is_full:
                self.fingerprints[name] = view.fingerprint
        if plan:
            self.rebuilt.append(plan)

    def full_tables(self) -> dict[str, dict[tuple[Any, ...], Sums]]:
        """Every view rebuilt in full from ``raw`` at the current horizon (not stored)."""
        if self.horizon is None:
            return {}
        return {
            v.name: aggregate(v, self.raw.values(), full_range(self.horizon)) for v in self.views
        }

    def rebuild_views(self) -> datetime | None:
        if self.horizon is not None:
            self._rebuild({v.name: full_range(self.horizon) for v in self.views})
        return self.horizon

    def recompute(
        self, topic: str, objects: Callable[[], list[LandedObject]], cycle_id: str
    ) -> int:
        if self.on_lock is not None:
            self.on_lock()
        found = objects()
        topics: dict[str, int] = {}
        for obj in self.ledger.values():
            topics[obj.topic] = topics.get(obj.topic, 0) + 1
        check_recompute(topic, len(found), topics)
        self.ledger = {o.key: o for o in found}
        self.raw = {}
        self._load(found)
        self.rebuild_views()
        return len(found)

    def reset(self, topic: str, topic_id: str, now: datetime, retire: Callable[[], None]) -> int:
        if self.on_lock is not None:
            self.on_lock()
        retire()
        known = self.incarnations.setdefault(topic, [])
        generation = known[-1].generation + 1 if known else 0
        known.append(Incarnation(generation, topic_id))
        self.watermarks = {k: v for k, v in self.watermarks.items() if k[0] != topic}
        return generation

    def open_losses(self, topic: str) -> list[Loss]:
        return sorted(
            (
                loss
                for loss, acknowledged in self.losses.values()
                if loss.topic == topic and acknowledged is None
            ),
            key=lambda loss: (loss.generation, loss.partition, loss.first),
        )

    def acknowledge_losses(self, topic: str, now: datetime, losses: list[Loss]) -> int:
        count = 0
        for shown in losses:
            key = (topic, shown.generation, shown.partition, shown.first)
            entry = self.losses.get(key)
            if entry is not None and entry[1] is None:
                self.losses[key] = (entry[0], now)
                count += 1
        return count

    def unacknowledged(self) -> list[Loss]:
        """The losses no operator has acknowledged yet."""
        return [loss for loss, acknowledged in self.losses.values() if acknowledged is None]
