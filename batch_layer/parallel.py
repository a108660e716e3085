"""Carrying out plans: each chunk read from the event log, encoded, written to the store.

Chunks are landed in this process, or, when a cycle has enough offsets to be worth it,
by worker processes (each its own Kafka reader and S3 client), with the same objects
either way. A master object is never overwritten with other bytes: a chunk whose key
exists is compared first, and a difference stops the cycle (``MasterConflict``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from time import perf_counter

from batch_layer.landing import LandedObject, PartitionPlan, RowsFile, encode_chunk, same_rows
from lambda_common.errors import LambdaError
from lambda_common.kafka.eventlog import EventLog
from lambda_common.kafka.factory import open_event_log
from lambda_common.objectstore import ObjectStore, S3ObjectStore
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

# Landing is CPU-bound (decoding, validating, encoding), so a cycle with at least this
# many offsets lands its chunks in worker processes, one per CPU; below, starting them
# (about half a second) costs more than it saves.
PARALLEL_MIN_OFFSETS = 50_000


class MasterConflict(LambdaError):
    """An object of the master dataset exists with other bytes than a redo computes."""


@dataclass(frozen=True)
class ChunkTask:
    """One chunk to land: offsets ``first..last`` of a partition, judged at ``now``."""

    topic: str
    partition: int
    first: int
    last: int
    now: datetime
    generation: int
    rows_dir: str


def tasks_for(plans: list[PartitionPlan], default_now: datetime, rows_dir: str) -> list[ChunkTask]:
    """Every chunk of ``plans``, in plan and chunk order."""
    return [
        ChunkTask(
            plan.topic,
            plan.partition,
            first,
            last,
            plan.clock(default_now),
            plan.generation,
            rows_dir,
        )
        for plan in plans
        for first, last in plan.chunks()
    ]


def _write_once(store: ObjectStore, key: str, body: bytes, *, master: bool = False) -> bool:
    """Write ``body`` at ``key`` unless it holds exactly that already; never overwrite
    other bytes (the master dataset is immutable). A ``master`` object that holds the
    same rows in an earlier version's line form is kept as it is: returns True then."""
    if store.exists(key):
        landed = store.get(key)
        if landed == body:
            return False
        if master and same_rows(landed, body):
            logger.info("%s holds this chunk in an earlier version's line form: kept", key)
            return True
        raise MasterConflict(
            f"{store.uri(key)} exists with other bytes than this cycle computes for the same "
            "offsets: refusing to overwrite the master dataset (was the topic re-created "
            "without make batch-reset?)"
        )
    store.put(key, body)
    return False


def land_chunk(log: EventLog, store: ObjectStore, task: ChunkTask) -> LandedObject:
    """Read, encode and write one chunk's objects (rejects first, then the master).

    The chunk's warehouse rows go to a CSV file in ``task.rows_dir`` for the load.
    """
    rows_path = Path(task.rows_dir) / f"{task.partition}-{task.first:020d}.csv"
    with rows_path.open("w", encoding="utf-8", newline="") as out:
        chunk = encode_chunk(
            task.topic,
            task.partition,
            task.first,
            task.last,
            log.read(task.topic, task.partition, task.first, task.last),
            task.now,
            RowsFile(out),
            task.generation,
        )
    uploading = perf_counter()
    if chunk.rejects_body is not None and chunk.landed.rejects_key is not None:
        _write_once(store, chunk.landed.rejects_key, chunk.rejects_body)
    chunk.landed.older_form = _write_once(store, chunk.landed.key, chunk.body, master=True)
    chunk.landed.rows_path = str(rows_path)
    chunk.landed.phases = {**chunk.phases, "s3 upload": perf_counter() - uploading}
    return chunk.landed


# A landing worker's settings (set by _init_worker) and its own clients, made on first
# use: an error then reaches the cycle as itself, not as a broken pool.
_worker_settings: Settings | None = None
_worker_clients: tuple[EventLog, ObjectStore] | None = None


def _init_worker(settings: Settings) -> None:
    global _worker_settings
    # Ctrl-C reaches the whole process group: the cycle's process handles it and stops
    # the pool; a worker would only add a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_settings = settings


def _land_in_worker(task: ChunkTask) -> LandedObject:
    global _worker_clients
    if _worker_clients is None:
        if _worker_settings is None:
            raise RuntimeError("landing worker not initialised")
        # No group: a worker only reads assigned offsets; the cycle's own log commits.
        _worker_clients = (
            open_event_log(_worker_settings, None, client_id="lambda-batch-landing"),
            S3ObjectStore(_worker_settings),
        )
    log, store = _worker_clients
    return land_chunk(log, store, task)


def land(
    log: EventLog,
    store: ObjectStore,
    tasks: list[ChunkTask],
    settings: Settings | None = None,
) -> list[LandedObject]:
    """Write every chunk's objects (idempotent: same plan, same keys, same bytes).

    With ``settings``, and enough offsets to be worth it, worker processes land the
    chunks in parallel; the objects and the returned list (in task order) are the same.
    """
    offsets = sum(t.last - t.first + 1 for t in tasks)
    workers = min(os.cpu_count() or 1, len(tasks))
    if settings is None or workers < 2 or offsets < PARALLEL_MIN_OFFSETS:
        return [land_chunk(log, store, task) for task in tasks]
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
        # results are still returned in task order.
        order = sorted(range(len(tasks)), key=lambda i: tasks[i].first - tasks[i].last)
        futures = {i: pool.submit(_land_in_worker, tasks[i]) for i in order}
        try:
            return [futures[i].result() for i in range(len(tasks))]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


ROWS_DIR_PREFIX = "lambda-batch-rows-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def rows_dir() -> tempfile.TemporaryDirectory[str]:
    """A fresh directory for a cycle's CSV rows, after removing any a killed cycle left.

    Directories are named with their process id; one whose process is gone can only be
    a leftover (a live cycle on other partitions keeps its own).
    """
    for path in Path(tempfile.gettempdir()).glob(f"{ROWS_DIR_PREFIX}*"):
        pid = path.name.removeprefix(ROWS_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            logger.info("removing %s, left by a killed batch cycle", path)
            shutil.rmtree(path, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{ROWS_DIR_PREFIX}{os.getpid()}-")
