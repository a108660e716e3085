"""One batch cycle: Kafka -> S3 -> warehouse -> batch view -> horizon -> offsets.

Order of effects, each step durable before the next starts:

1. per assigned partition, the plan ``[committed, end)`` (reused if a crashed cycle left one);
2. the plan's objects in S3 (rejects first, then the master object);
3. one warehouse transaction: load (skipped if the ledger has the objects), the handled
   partitions' watermarks, batch view, horizon (the least watermark over all partitions);
4. the Kafka offsets of the group, moved to the plans' ends.

A crash anywhere repeats from step 1 with the same plans, so nothing is lost or doubled.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from batch_layer.landing import LandedObject, Message, PartitionPlan, encode_chunk, plan_key
from batch_layer.load import BatchWarehouse, Coverage, failpoint
from lambda_common.broker import client_config
from lambda_common.errors import ServiceUnavailable
from lambda_common.objectstore import ObjectStore, S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

GROUP_ID = "lambda-batch-layer"


def horizon_for(cycle_start: datetime, allowed_lateness_s: int) -> datetime:
    """Start of the hour holding ``cycle_start - lateness``, as naive UTC (the views' time)."""
    point = cycle_start.astimezone(UTC) - timedelta(seconds=allowed_lateness_s)
    return point.replace(minute=0, second=0, microsecond=0, tzinfo=None)


@dataclass
class CycleResult:
    """The cycle's summary line."""

    events: int
    rejects: int
    objects: int
    loaded: bool
    seconds: float
    horizon: datetime | None

    def summary(self) -> str:
        when = (
            f"{self.horizon:%Y-%m-%d %H:%M}"
            if self.horizon
            else "not set (waiting for every partition's first cycle)"
        )
        return (
            f"batch cycle: {self.events:,} events landed, {self.rejects:,} rejects, "
            f"{self.objects} objects, {'loaded' if self.loaded else 'nothing new to load'}, "
            f"{self.seconds:.1f}s, horizon {when}"
        )


def _consumer(settings: Settings) -> KafkaConsumer:
    try:
        return KafkaConsumer(
            group_id=GROUP_ID,
            client_id="lambda-batch",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=5000,
            **client_config(settings),
        )
    except KafkaError as e:
        raise ServiceUnavailable(f"Kafka at {settings.kafka_bootstrap_servers}: {e}") from e


def _assign(
    consumer: KafkaConsumer, topic: str, only: list[int] | None
) -> tuple[list[TopicPartition], tuple[int, ...]]:
    """Assign the topic's partitions (or ``only`` these) to this consumer, paused.

    Returns the assigned partitions and all the topic's partition numbers.

    Manual assignment, not group subscription: offsets still live in the group, but a
    consumer killed mid-cycle leaves no member behind for the next cycle to wait out
    in a rebalance. Several batch processes scale out by taking disjoint partitions.
    """
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise ServiceUnavailable(f"Kafka topic {topic!r} does not exist (produce to it first)")
    chosen = sorted(p for p in partitions if only is None or p in only)
    tps = [TopicPartition(topic, p) for p in chosen]
    consumer.assign(tps)
    consumer.pause(*tps)
    return tps, tuple(sorted(partitions))


def _plans(
    consumer: KafkaConsumer, store: ObjectStore, partitions: list[TopicPartition]
) -> list[PartitionPlan]:
    ends = consumer.end_offsets(partitions)
    beginnings = consumer.beginning_offsets(partitions)
    plans = []
    for tp in partitions:
        committed = consumer.committed(tp)
        start = max(committed if committed is not None else 0, beginnings[tp])
        key = plan_key(tp.topic, tp.partition, start)
        if store.exists(key):
            plan = PartitionPlan.from_json(store.get(key))
            logger.info(
                "partition %s: resuming plan %s..%s left by an earlier cycle",
                tp.partition,
                plan.start,
                plan.end,
            )
        elif ends[tp] > start:
            plan = PartitionPlan(tp.topic, tp.partition, start, ends[tp])
            store.put(key, plan.to_json())
        else:
            continue
        plans.append(plan)
    return plans


def _read(consumer: KafkaConsumer, tp: TopicPartition, first: int, last: int) -> list[Message]:
    consumer.resume(tp)
    consumer.seek(tp, first)
    out: list[Message] = []
    try:
        while consumer.position(tp) <= last:
            batch = consumer.poll(timeout_ms=1000)
            for record in batch.get(tp, []):
                if first <= record.offset <= last:
                    out.append(Message(record.offset, record.timestamp, record.value))
    finally:
        consumer.pause(tp)
    return out


def land(
    consumer: KafkaConsumer, store: ObjectStore, plans: list[PartitionPlan], now: datetime
) -> list[LandedObject]:
    """Write every plan's objects (idempotent: same plan, same keys, same bytes)."""
    landed = []
    for plan in plans:
        tp = TopicPartition(plan.topic, plan.partition)
        for first, last in plan.chunks():
            chunk = encode_chunk(
                plan.topic, plan.partition, first, last, _read(consumer, tp, first, last), now
            )
            if chunk.rejects_body is not None and chunk.landed.rejects_key is not None:
                store.put(chunk.landed.rejects_key, chunk.rejects_body)
            store.put(chunk.landed.key, chunk.body)
            landed.append(chunk.landed)
    return landed


def run_cycle(
    settings: Settings, *, now: datetime | None = None, only_partitions: list[int] | None = None
) -> CycleResult:
    """Run one cycle end to end; raise on any failure (offsets then stay where they were)."""
    started = time.monotonic()
    cycle_start = now or datetime.now(UTC)
    store = S3ObjectStore(settings)
    store.check()
    with Warehouse(settings) as warehouse:
        batch = BatchWarehouse(settings, warehouse, store)
        batch.ensure_schema()
        consumer = _consumer(settings)
        try:
            partitions, every_partition = _assign(consumer, settings.kafka_topic, only_partitions)
            plans = _plans(consumer, store, partitions)
            landed = land(consumer, store, plans, cycle_start)
            failpoint("after_s3")
            cycle_id = f"{cycle_start:%Y%m%dT%H%M%S}-" + "-".join(
                f"{p.partition}.{p.start}" for p in plans
            )
            coverage = Coverage(
                topic=settings.kafka_topic,
                handled=tuple(tp.partition for tp in partitions),
                partitions=every_partition,
                horizon=horizon_for(cycle_start, settings.allowed_lateness),
            )
            loaded, horizon = batch.publish(landed, cycle_id, coverage)
            failpoint("after_load_commit")
            if plans:
                consumer.commit(
                    {
                        TopicPartition(p.topic, p.partition): OffsetAndMetadata(p.end, "", -1)
                        for p in plans
                    }
                )
            failpoint("after_offsets")
        finally:
            consumer.close(autocommit=False)
    return CycleResult(
        events=sum(o.events for o in landed),
        rejects=sum(o.rejects for o in landed),
        objects=len(landed),
        loaded=loaded,
        seconds=time.monotonic() - started,
        horizon=horizon,
    )


def recompute(settings: Settings) -> int:
    """``make recompute``: rebuild the warehouse's batch tables from the S3 objects alone."""
    store = S3ObjectStore(settings)
    store.check()
    with Warehouse(settings) as warehouse:
        batch = BatchWarehouse(settings, warehouse, store)
        batch.ensure_schema()
        return batch.recompute(settings.kafka_topic, f"recompute-{datetime.now(UTC):%Y%m%dT%H%M%S}")
