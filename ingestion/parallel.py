"""Synthetic production on several processes, for throughput past one core.

kafka-python builds every record in Python under the GIL, so one process tops out near
25k events/s (with KAFKA_CLIENT=confluent, generating the events is most of the cost);
``workers`` processes, each with its own generator shard and producer, use every core.
Worker ``w`` generates ``count / workers`` events from seed ``seed * 1009 + w``: the union
is deterministic for (seed, options, workers), and a duplicate always comes from its own
worker after the original, so per-key order holds.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import queue
import signal
from collections.abc import Callable
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from ingestion.factory import open_producer
from ingestion.producer import Stats, produce
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.settings import Settings

_REPORT_EVERY = 1024


def shard_options(options: SyntheticOptions, workers: int) -> list[SyntheticOptions]:
    """Split one synthetic run into ``workers`` deterministic shards."""
    if workers == 1:
        return [options]
    base, extra = divmod(options.count, workers)
    return [
        dataclasses.replace(
            options, seed=options.seed * 1009 + w, count=base + (1 if w < extra else 0)
        )
        for w in range(workers)
    ]


def _worker(
    settings: Settings,
    options: SyntheticOptions,
    topic: str | None,
    rate: float,
    sent: Synchronized[int],
    results: Any,
) -> None:
    source = SyntheticTweets(options)
    producer = open_producer(settings, topic)

    def publish() -> None:
        # Share progress with the parent every _REPORT_EVERY events: a lock per event
        # would cost more than the event.
        if producer.stats.sent % _REPORT_EVERY == 0:
            with sent.get_lock():
                sent.value += _REPORT_EVERY

    try:
        produce(source.messages(), producer, rate=rate, on_tick=publish)
    finally:
        # The interrupt may reach us twice (terminal and parent): never cut the flush.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        producer.close()
        s = producer.stats
        window = (s.first_sent, s.finished)
        times = (s.source_s, s.send_s, s.flush_s)
        results.put(
            (s.sent, s.failed, s.first_error, source.duplicates, source.late, window, times)
        )


def produce_parallel(
    settings: Settings,
    options: SyntheticOptions,
    *,
    workers: int,
    rate: float = 0,
    topic: str | None = None,
    progress_interval_s: float = 1.0,
    on_progress: Callable[[int, float], None] | None = None,
) -> tuple[Stats, int, int]:
    """Run the shards; return the merged stats, duplicates and late counts."""
    ctx = mp.get_context("spawn")
    sent = ctx.Value("q", 0)
    results = ctx.Queue()
    shards = shard_options(options, workers)
    procs = [
        ctx.Process(
            target=_worker, args=(settings, o, topic, rate / workers, sent, results), daemon=True
        )
        for o in shards
    ]
    stats = Stats()
    for proc in procs:
        proc.start()
    collected: list[
        tuple[
            int,
            int,
            str | None,
            int,
            int,
            tuple[float | None, float | None],
            tuple[float, float, float],
        ]
    ] = []
    try:
        while len(collected) < len(procs):
            try:
                collected.append(results.get(timeout=progress_interval_s))
            except queue.Empty:  # time for a progress line
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
                if on_progress is not None:
                    on_progress(sent.value, stats.elapsed)
    except KeyboardInterrupt:
        # From a terminal the workers got the same SIGINT; from `kill -INT` only we did:
        # pass it on, then let each flush and report.
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGINT)
        try:
            while len(collected) < len(procs):
                collected.append(results.get(timeout=60))
        except queue.Empty:
            pass  # a worker died without reporting: counted as a failure below
    for proc in procs:
        proc.join(timeout=30)
    for n_sent, failed, first_error, _, _, _, (source_s, send_s, flush_s) in collected:
        stats.sent += n_sent
        stats.failed += failed
        stats.first_error = stats.first_error or first_error
        # The workers' seconds, added up: per event they are each worker's own cost.
        stats.source_s += source_s
        stats.send_s += send_s
        stats.flush_s = max(stats.flush_s, flush_s)
    # Sending runs from the first worker's first send to the last one's final flush (the
    # monotonic clock is the machine's, one for every process): the workers' start-up,
    # a fresh interpreter each, stays out of the rate.
    starts = [w[0] for *_, w, _ in collected if w[0] is not None]
    ends = [w[1] for *_, w, _ in collected if w[1] is not None]
    stats.first_sent = min(starts, default=None)
    stats.finished = max(ends, default=None)
    stats.delivered = stats.sent - stats.failed
    if len(collected) < len(procs):
        missing = len(procs) - len(collected)
        stats.first_error = stats.first_error or f"{missing} worker(s) died without reporting"
        stats.failed += 1
    return stats, sum(c[3] for c in collected), sum(c[4] for c in collected)
