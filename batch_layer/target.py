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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from batch_layer.landing import LandedObject
from batch_layer.plan import RESET_HINT, Loss, TopicChanged, choose_horizon
from lambda_common.errors import ServiceUnavailable


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
    def publish(
        self,
        objects: list[LandedObject],
        cycle_id: str,
        coverage: Coverage,
        losses: list[Loss],
        now: datetime,
    ) -> tuple[bool, datetime | None]:
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
    def reset(self, topic: str, topic_id: str, now: datetime, retire: Callable[[], None]) -> int:
        """Register ``topic_id`` as a new generation, holding the batch lock while
        ``retire`` archives the old plans and forgets the group's offsets; the topic's
        watermarks start anew. Returns the new generation."""

    @abstractmethod
    def acknowledge_losses(self, topic: str, now: datetime) -> int:
        """Mark the topic's recorded losses acknowledged; returns how many."""


@dataclass
class InMemoryBatchTarget(BatchTarget):
    """The warehouse's bookkeeping in dictionaries (ledger, watermarks, horizon, raw
    events by tweet id), for unit tests of the cycle."""

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

    def ensure_schema(self) -> None:
        return None

    def generation(self, topic: str, topic_id: str | None, now: datetime) -> int:
        known = self.incarnations.get(topic, [])
        generation, register = check_incarnation(topic, known[-1] if known else None, topic_id)
        if register and topic_id is not None:
            self.incarnations.setdefault(topic, []).append(Incarnation(generation, topic_id))
        return generation

    def publish(
        self,
        objects: list[LandedObject],
        cycle_id: str,
        coverage: Coverage,
        losses: list[Loss],
        now: datetime,
    ) -> tuple[bool, datetime | None]:
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
        return bool(missing), self.horizon

    def recompute(
        self, topic: str, objects: Callable[[], list[LandedObject]], cycle_id: str
    ) -> int:
        if self.on_lock is not None:
            self.on_lock()
        found = objects()
        self.ledger = {o.key: o for o in found}
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

    def acknowledge_losses(self, topic: str, now: datetime) -> int:
        count = 0
        for key, (loss, acknowledged) in list(self.losses.items()):
            if loss.topic == topic and acknowledged is None:
                self.losses[key] = (loss, now)
                count += 1
        return count

    def unacknowledged(self) -> list[Loss]:
        """The losses no operator has acknowledged yet."""
        return [loss for loss, acknowledged in self.losses.values() if acknowledged is None]
