"""Batch throughput with one and with two batch processes on the same events.

Each run produces ``BENCH_BATCH_EVENTS`` synthetic events to a fresh lane whose topic has
4 partitions (so ``--partitions 0/2`` and ``1/2`` take two each), then lands and loads
them with ``python -m batch_layer once`` as one process (every partition), or as two
processes started together (``--partitions 0/2`` and ``--partitions 1/2``): events over
the seconds from the first start to the last end. The lane's tables exist beforehand, so
both time cycles, not table creation. Every run's ``raw_tweets`` rows are counted: two
processes must load exactly what one does.

Two processes land in parallel but publish in turn (the warehouse's batch lock), and
each lands a large cycle in a pool of worker processes of its own, one per CPU
(``batch_layer.parallel``): on one machine they share its CPUs.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from batch_layer.landing import CHUNK_EVENTS
from batch_layer.parallel import PARALLEL_MIN_OFFSETS
from bench import add_ratios, summarize
from bench.batch import cycles, produce
from bench.lanes import fresh_lane
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

BENCHMARK = "batch scale events/s"
# Even, so that 0/2 and 1/2 own the same number of partitions.
PARTITIONS = 4
CONTENDERS: dict[str, list[str | None]] = {
    "batch_layer once (1 process)": [None],
    "once --partitions 0/2 + 1/2": ["0/2", "1/2"],
}


def landing_processes(events: int, processes: int, cpus: int) -> int:
    """Processes landing at once: each batch process lands its share of ``events`` (its
    partitions', keys spreading evenly) in a pool of one worker per CPU, at most one per
    chunk, when the share reaches PARALLEL_MIN_OFFSETS, else in itself."""
    if events // processes < PARALLEL_MIN_OFFSETS:
        return processes
    per_partition = -(-events // PARTITIONS)
    chunks = PARTITIONS // processes * -(-per_partition // CHUNK_EVENTS)
    return processes * min(cpus, chunks)


def run(settings: Settings, events: int, repeats: int) -> list[dict[str, Any]]:
    """Events/s of each contender over ``repeats`` runs (a fresh lane each), with its
    ratio to one process and whether every run loaded the same rows."""
    rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    loaded: dict[str, list[int]] = {name: [] for name in CONTENDERS}
    for repeat in range(repeats):
        for name, partition_sets in CONTENDERS.items():
            with fresh_lane(settings, "scale", partitions=PARTITIONS, tables=True) as lane:
                produce(lane, events)
                seconds, _ = cycles(lane, partition_sets)
                with Warehouse(lane.settings) as wh:
                    loaded[name].append(int(wh.query("SELECT COUNT(*) FROM raw_tweets")[0][0]))
            rates[name].append(events / seconds)
            logger.info("run %d, %s: %.1fs", repeat + 1, name, seconds)
    cpus = os.cpu_count() or 1
    reference = loaded[next(iter(CONTENDERS))][0]
    rows = []
    for name, partition_sets in CONTENDERS.items():
        row = summarize(BENCHMARK, name, events, rates[name])
        row["processes"] = len(partition_sets)
        row["landing_processes"] = landing_processes(events, len(partition_sets), cpus)
        row["raw_rows"] = loaded[name]
        row["same_rows_as_1_process"] = all(n == reference for n in loaded[name])
        rows.append(row)
    return add_ratios(rows, rows[0])


def note(rows: list[dict[str, Any]]) -> str:
    """The line printed under the table: what ran on this machine's CPUs, and whether
    two processes loaded the same rows as one."""
    cpus = os.cpu_count() or 1
    one, two = rows[0], rows[1]
    same = "the same" if two["same_rows_as_1_process"] else "NOT the same"
    return (
        f"batch scale: {two['events']:,} events, {PARTITIONS} partitions; landing ran in "
        f"{one['landing_processes']} process(es) with 1 batch process, in "
        f"{two['landing_processes']} with 2 (from {PARALLEL_MIN_OFFSETS:,} offsets a batch "
        f"process lands in a pool of one worker per CPU, {cpus} here); their loads take the "
        f"batch lock in turn; 2 processes loaded {same} rows as 1 "
        f"({two['raw_rows'][0]:,} raw_tweets)"
    )
