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
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from batch_layer.landing import (
    LandedObject,
    Message,
    PartitionPlan,
    RowsFile,
    encode_chunk,
    plan_key,
)
from batch_layer.load import BatchWarehouse, Coverage
from lambda_common.broker import BATCH_GROUP_ID, client_config
from lambda_common.errors import ServiceUnavailable
from lambda_common.faults import failpoint
from lambda_common.objectstore import ObjectStore, S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

# Landing is CPU-bound (decoding, validating, encoding), so a cycle with at least this
# many offsets lands its chunks in worker processes, one per CPU; below, starting them
# (about half a second) costs more than it saves.
PARALLEL_MIN_OFFSETS = 50_000

# Fetch sizes: a few large fetches per chunk rather than many 1 MiB ones.
_FETCH = {
    "max_poll_records": 2_000,
    "max_partition_fetch_bytes": 8 << 20,
    "fetch_max_bytes": 64 << 20,
}


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
            group_id=BATCH_GROUP_ID,
            client_id="lambda-batch",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **_FETCH,
            **client_config(settings),
        )
    except KafkaError as e:
        raise ServiceUnavailable(f"Kafka at {settings.kafka_bootstrap_servers}: {e}") from e


def _reader(settings: Settings) -> KafkaConsumer:
    # A landing worker only reads assigned offsets: no group (the cycle's own consumer
    # commits), so workers never touch the group's offsets.
    try:
        return KafkaConsumer(
            client_id="lambda-batch-landing",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **_FETCH,
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
        # A plan a killed cycle left is redone as it was (same objects); the offsets that
        # arrived since get a plan of their own after it, so one cycle still reads up to
        # the end offsets seen at its start (the contract's "one batch cycle" suffices).
        while True:
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
                break
            plans.append(plan)
            if plan.end >= ends[tp]:
                break
            start = plan.end
    return plans


def _read(consumer: KafkaConsumer, tp: TopicPartition, first: int, last: int) -> Iterator[Message]:
    # A generator: the chunk is encoded as it arrives, never held whole in memory.
    consumer.resume(tp)
    consumer.seek(tp, first)
    try:
        while consumer.position(tp) <= last:
            batch = consumer.poll(timeout_ms=1000)
            for record in batch.get(tp, []):
                if first <= record.offset <= last:
                    yield Message(record.offset, record.timestamp, record.value)
    finally:
        consumer.pause(tp)


@dataclass(frozen=True)
class _Task:
    """One chunk to land: offsets ``first..last`` of a partition."""

    topic: str
    partition: int
    first: int
    last: int
    now: datetime
    rows_dir: str


def _land_chunk(consumer: KafkaConsumer, store: ObjectStore, task: _Task) -> LandedObject:
    """Read, encode and write one chunk's objects (rejects first, then the master).

    The chunk's warehouse rows go to a CSV file in ``task.rows_dir`` for the load.
    """
    tp = TopicPartition(task.topic, task.partition)
    rows_path = Path(task.rows_dir) / f"{task.partition}-{task.first:020d}.csv"
    with rows_path.open("w", encoding="utf-8", newline="") as out:
        chunk = encode_chunk(
            task.topic,
            task.partition,
            task.first,
            task.last,
            _read(consumer, tp, task.first, task.last),
            task.now,
            RowsFile(out),
        )
    if chunk.rejects_body is not None and chunk.landed.rejects_key is not None:
        store.put(chunk.landed.rejects_key, chunk.rejects_body)
    store.put(chunk.landed.key, chunk.body)
    chunk.landed.rows_path = str(rows_path)
    return chunk.landed


# A landing worker's settings (set by _init_worker) and its own clients, made on first
# use: an error then reaches the cycle as itself, not as a broken pool.
_worker_settings: Settings | None = None
_worker_clients: tuple[KafkaConsumer, ObjectStore] | None = None


def _init_worker(settings: Settings) -> None:
    global _worker_settings
    # Ctrl-C reaches the whole process group: the cycle's process handles it and stops
    # the pool; a worker would only add a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_settings = settings


def _land_in_worker(task: _Task) -> LandedObject:
    global _worker_clients
    if _worker_clients is None:
        if _worker_settings is None:
            raise RuntimeError("landing worker not initialised")
        _worker_clients = (_reader(_worker_settings), S3ObjectStore(_worker_settings))
    consumer, store = _worker_clients
    consumer.assign([TopicPartition(task.topic, task.partition)])
    return _land_chunk(consumer, store, task)


def land(
    consumer: KafkaConsumer,
    store: ObjectStore,
    plans: list[PartitionPlan],
    now: datetime,
    rows_dir: str,
    settings: Settings | None = None,
) -> list[LandedObject]:
    """Write every plan's objects (idempotent: same plan, same keys, same bytes).

    With ``settings``, and enough offsets to be worth it, the chunks are landed by
    worker processes (each its own Kafka reader and S3 client) in parallel; the objects
    and the returned list are the same either way, in plan and chunk order.
    """
    tasks = [
        _Task(plan.topic, plan.partition, first, last, now, rows_dir)
        for plan in plans
        for first, last in plan.chunks()
    ]
    offsets = sum(p.end - p.start for p in plans)
    workers = min(os.cpu_count() or 1, len(tasks))
    if settings is None or workers < 2 or offsets < PARALLEL_MIN_OFFSETS:
        return [_land_chunk(consumer, store, task) for task in tasks]
    logger.info("landing %d chunks in %d worker processes", len(tasks), workers)
    # spawn, not fork: a forked child would share this process's Kafka, S3 and
    # warehouse connections (and the cycle lock's file descriptor).
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(settings,),
    ) as pool:
        # Longest chunks first, so the short tail chunks fill in at the end; the
        # results are still returned in plan order.
        order = sorted(range(len(tasks)), key=lambda i: tasks[i].first - tasks[i].last)
        futures = {i: pool.submit(_land_in_worker, tasks[i]) for i in order}
        try:
            return [futures[i].result() for i in range(len(tasks))]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


_ROWS_DIR_PREFIX = "lambda-batch-rows-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _rows_dir() -> tempfile.TemporaryDirectory[str]:
    """A fresh directory for this cycle's CSV rows, after removing any a killed cycle left.

    Directories are named with their process id; one whose process is gone can only be
    a leftover (a live cycle on other partitions keeps its own).
    """
    for path in Path(tempfile.gettempdir()).glob(f"{_ROWS_DIR_PREFIX}*"):
        pid = path.name.removeprefix(_ROWS_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            logger.info("removing %s, left by a killed batch cycle", path)
            shutil.rmtree(path, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{_ROWS_DIR_PREFIX}{os.getpid()}-")


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
        # The landed chunks' warehouse rows, as CSV for the load: deleted with the cycle.
        rows_dir = _rows_dir()
        try:
            partitions, every_partition = _assign(consumer, settings.kafka_topic, only_partitions)
            plans = _plans(consumer, store, partitions)
            landed = land(consumer, store, plans, cycle_start, rows_dir.name, settings)
            logger.info("landed %d objects in %.1fs", len(landed), time.monotonic() - started)
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
            publishing = time.monotonic()
            loaded, horizon = batch.publish(landed, cycle_id, coverage)
            logger.info("published in %.1fs", time.monotonic() - publishing)
            failpoint("after_load_commit")
            if plans:
                # A partition may have a resumed plan and a new one after it: the larger end.
                ends: dict[TopicPartition, int] = {}
                for p in plans:
                    tp = TopicPartition(p.topic, p.partition)
                    ends[tp] = max(ends.get(tp, 0), p.end)
                consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
            failpoint("after_offsets")
        finally:
            consumer.close(autocommit=False)
            rows_dir.cleanup()
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
