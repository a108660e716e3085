"""One batch cycle: Kafka -> S3 -> warehouse -> batch view -> horizon -> offsets.

Order of effects, each step durable before the next starts:

1. the topic's incarnation checked against the one registered (``batch_topics``);
2. per owned partition, the plans (``plan.plan_partition``: a crashed cycle's plan is
   redone as it was), stored in S3 before any object;
3. the plans' objects in S3 (rejects first, then the master; never overwritten with
   other bytes);
4. one warehouse transaction: load (skipped for objects the ledger has), losses, the
   handled partitions' watermarks, batch view, horizon;
5. the Kafka offsets of the group, moved to the plans' ends.

A crash anywhere repeats from step 1 with the same plans, so nothing is lost or doubled.
The cycle takes its event log, object store and warehouse as arguments (the real ones
by default), so the same code runs against the in-memory ones in unit tests.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from batch_layer.landing import LandedObject, PartitionPlan, master_prefix, parse_object_key
from batch_layer.load import BatchWarehouse
from batch_layer.parallel import land, rows_dir, tasks_for
from batch_layer.plan import (
    Loss,
    PartitionSet,
    PlanLookup,
    horizon_for,
    plan_ends,
    plan_partition,
)
from batch_layer.target import BatchTarget, Coverage, Publication
from batch_layer.timings import Phases
from lambda_common.faults import failpoint
from lambda_common.kafka.broker import BATCH_GROUP_ID
from lambda_common.kafka.eventlog import EventLog
from lambda_common.kafka.factory import open_event_log
from lambda_common.objectstore import ObjectStore, S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

# Re-exported: the horizon rule is written once, in plan.py.
__all__ = ["CycleResult", "Services", "horizon_for", "open_target", "recompute", "run_cycle"]


@dataclass
class CycleResult:
    """The cycle's summary line."""

    events: int
    rejects: int
    objects: int
    loaded: bool
    seconds: float
    horizon: datetime | None
    lost: int = 0

    def summary(self) -> str:
        when = (
            f"{self.horizon:%Y-%m-%d %H:%M}"
            if self.horizon
            else "not set (waiting for every partition's first cycle)"
        )
        lost = f", {self.lost:,} offsets lost to retention (see make status)" if self.lost else ""
        return (
            f"batch cycle: {self.events:,} events landed, {self.rejects:,} rejects, "
            f"{self.objects} objects, {'loaded' if self.loaded else 'nothing new to load'}, "
            f"{self.seconds:.1f}s, horizon {when}{lost}"
        )


@dataclass
class Services:
    """What a cycle talks to. ``settings`` set means the real services may use worker
    processes for landing; the in-memory ones run everything in this process."""

    log: EventLog
    store: ObjectStore
    target: BatchTarget
    settings: Settings | None = None


def _stored_plan(store: ObjectStore) -> PlanLookup:
    def lookup(key: str) -> PartitionPlan | None:
        return PartitionPlan.from_json(store.get(key)) if store.exists(key) else None

    return lookup


def cycle(
    services: Services,
    topic: str,
    allowed_lateness_s: int,
    *,
    now: datetime | None = None,
    partitions: PartitionSet | None = None,
) -> CycleResult:
    """Run one cycle against ``services``; raise on any failure (offsets then stay)."""
    started = time.monotonic()
    phases = Phases()
    planning = time.perf_counter()
    cycle_start = now or datetime.now(UTC)
    log, store, target = services.log, services.store, services.target
    info = log.describe(topic)
    generation = target.generation(topic, info.topic_id, cycle_start)
    owned = (partitions or PartitionSet()).choose(info.partitions)
    offsets = log.offsets(topic, owned)
    plans: list[PartitionPlan] = []
    losses: list[Loss] = []
    lookup = _stored_plan(store)
    for partition in owned:
        decision = plan_partition(
            topic,
            partition,
            offsets[partition],
            topic_id=info.topic_id,
            generation=generation,
            judged_at=cycle_start,
            stored_plan=lookup,
        )
        if decision.loss is not None:
            logger.warning("%s", decision.loss.line())
            losses.append(decision.loss)
        for key in decision.abandoned:
            archive(store, key, f"abandoned-{cycle_start:%Y%m%dT%H%M%S}")
        for plan in decision.plans:
            if plan not in decision.new:
                logger.info(
                    "partition %s: resuming plan %s..%s left by an earlier cycle",
                    partition,
                    plan.start,
                    plan.end,
                )
            else:
                store.put(plan.key, plan.to_json())
        plans += decision.plans
    phases.add("plan", time.perf_counter() - planning)
    with rows_dir() as rows:
        # The landed chunks' warehouse rows, as CSV for the load: deleted with the cycle.
        landed = land(log, store, tasks_for(plans, cycle_start, rows), services.settings)
        logger.info("landed %d objects in %.1fs", len(landed), time.monotonic() - started)
        failpoint("after_s3")
        cycle_id = f"{cycle_start:%Y%m%dT%H%M%S}-" + "-".join(
            f"{p.partition}.{p.start}" for p in plans
        )
        coverage = Coverage(
            topic=topic,
            handled=tuple(owned),
            partitions=info.partitions,
            horizon=horizon_for(cycle_start, allowed_lateness_s),
        )
        publishing = time.monotonic()
        loaded, horizon = target.publish(
            Publication(landed, cycle_id, coverage, losses, cycle_start)
        )
        logger.info("published in %.1fs", time.monotonic() - publishing)
    for obj in landed:
        phases.merge(obj.phases)
    # The in-memory target of the unit tests keeps no phases.
    phases.merge(getattr(target, "phases", Phases()).seconds)
    committing = time.perf_counter()
    failpoint("after_load_commit")
    ends = plan_ends(plans)
    for loss in losses:
        # Retention moved the beginning past the committed offset, and nothing was
        # left to land: the commit still moves past the lost range (it is recorded).
        ends.setdefault(loss.partition, loss.last + 1)
    if ends:
        log.commit(topic, ends)
    phases.add("offsets commit", time.perf_counter() - committing)
    failpoint("after_offsets")
    events = sum(o.events for o in landed)
    # One line of where the time went, per phase (make bench reads it from the run).
    logger.info("%s", phases.line(events))
    return CycleResult(
        events=events,
        rejects=sum(o.rejects for o in landed),
        objects=len(landed),
        loaded=loaded,
        seconds=time.monotonic() - started,
        horizon=horizon,
        lost=sum(loss.last - loss.first + 1 for loss in losses),
    )


def archive(store: ObjectStore, key: str, label: str) -> None:
    """Move a plan out of the way, keeping it (``plans-archive/<label>/...``)."""
    store.put(f"plans-archive/{label}/{key}", store.get(key))
    store.delete(key)
    logger.info("archived %s", key)


def open_target(settings: Settings, warehouse: Warehouse, store: ObjectStore) -> BatchWarehouse:
    """The warehouse side of a cycle, its schema ensured first, as every cycle starts
    (``make redshift-sql`` starts its cycle with this too)."""
    target = BatchWarehouse(settings, warehouse, store)
    target.ensure_schema()
    return target


def real_services(settings: Settings, warehouse: Warehouse) -> Services:
    """The real event log, S3 and warehouse (each checked or created lazily)."""
    store = S3ObjectStore(settings)
    store.check()
    target = open_target(settings, warehouse, store)
    log = open_event_log(settings, BATCH_GROUP_ID, client_id="lambda-batch")
    return Services(log, store, target, settings)


def run_cycle(
    settings: Settings,
    *,
    now: datetime | None = None,
    only_partitions: PartitionSet | list[int] | None = None,
) -> CycleResult:
    """Run one cycle end to end on the configured services; raise on any failure."""
    partitions = (
        PartitionSet(listed=tuple(sorted(only_partitions)))
        if isinstance(only_partitions, list)
        else only_partitions
    )
    with Warehouse(settings) as warehouse:
        services = real_services(settings, warehouse)
        with services.log:
            return cycle(
                services,
                settings.kafka_topic,
                settings.allowed_lateness,
                now=now,
                partitions=partitions,
            )


def recompute_objects(store: ObjectStore, topic: str) -> list[LandedObject]:
    """Every master object of ``topic`` (all generations), as the ledger records them."""
    objects = []
    for key in store.list_keys(master_prefix(topic)):
        partition, first, last = parse_object_key(key)
        objects.append(LandedObject(key, topic, partition, first, last, events=0, rejects=0))
    return objects


def recompute(settings: Settings) -> int:
    """``make recompute``: rebuild the warehouse's batch tables from the S3 objects alone."""
    store = S3ObjectStore(settings)
    store.check()
    topic = settings.kafka_topic
    with Warehouse(settings) as warehouse:
        batch = BatchWarehouse(settings, warehouse, store)
        batch.ensure_schema()
        return batch.recompute(
            topic,
            lambda: recompute_objects(store, topic),
            f"recompute-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        )
