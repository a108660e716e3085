"""Batch cycle throughput: one ``run_cycle`` (land + load + view), with each Kafka client
(``KAFKA_CLIENT``), vs a stock-tool floor.

The floor is what the bare tools do with the same topic: ``kcat -C | gzip`` to a file,
then ``psql \\copy`` of the raw JSON lines into a one-column table: no validation,
de-duplication, ledger or view. The ratio says what exactly-once costs on top.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import add_ratios, ingestion_argv, summarize
from bench.lanes import Lane, fresh_lane
from lambda_common.errors import BenchmarkError
from lambda_common.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def produce(lane: Lane, events: int) -> None:
    """``events`` synthetic events (the last 3 days) into the lane's topic."""
    result = subprocess.run(
        ingestion_argv(events, lane.name, "--workers", "2", "--backfill", "3d"),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchmarkError(f"producing the benchmark events failed: {result.stderr[-300:]}")


def _floor(lane: Lane, work: Path) -> float:
    kcat, psql = shutil.which("kcat"), shutil.which("psql")
    if kcat is None or psql is None:
        raise BenchmarkError("kcat and psql are needed (make deps)")
    topic = schema = lane.name
    dump = work / f"{topic}.jsonl.gz"
    # The connection through libpq's environment: no password in psql's argv.
    pg_env = {**os.environ, **lane.settings.warehouse.libpq_environment()}
    subprocess.run(
        [psql, "-qc", f'CREATE TABLE IF NOT EXISTS "{schema}".floor_raw (doc text)'],
        check=True,
        env=pg_env,
    )
    started = time.perf_counter()
    with dump.open("wb") as out:
        kc = subprocess.Popen(
            [
                kcat,
                "-C",
                "-b",
                lane.settings.kafka_bootstrap_servers,
                "-t",
                topic,
                "-e",
                "-q",
                "-f",
                "%s\\n",
            ],
            stdout=subprocess.PIPE,
        )
        subprocess.run(["gzip", "-1"], stdin=kc.stdout, stdout=out, check=True)
        kc.wait()
    copy = (
        f"\\copy \"{schema}\".floor_raw (doc) FROM PROGRAM 'gunzip -c {dump}' "
        "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    )
    subprocess.run([psql, "-qc", copy], check=True, capture_output=True, env=pg_env)
    return time.perf_counter() - started


def cycles(lane: Lane, partition_sets: Sequence[str | None]) -> tuple[float, list[float]]:
    """Batch cycles as users run them (``python -m batch_layer once``, each its own
    process), one per entry of ``partition_sets`` (None: all partitions; ``"0/2"``:
    ``--partitions 0/2``), all started at once: seconds from the first start to the last
    end, and each one's peak RSS in MiB of its largest process (the cycle or a landing
    worker; Linux reports the maximum over a process and its reaped children)."""
    processes = []
    started = time.perf_counter()
    for chosen in partition_sets:
        argv = [sys.executable, "-m", "batch_layer", "once"]
        err = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the wait)
        process = subprocess.Popen(
            [*argv, *(["--partitions", chosen] if chosen else [])],
            cwd=REPO,
            env=lane.env,
            stderr=err,
        )
        processes.append((process, err))
    peaks, failures = [], []
    for process, err in processes:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        peaks.append(usage.ru_maxrss / 1024)
        if process.returncode != 0:
            err.seek(0)
            failures.append(err.read().decode(errors="replace")[-400:])
        err.close()
    elapsed = time.perf_counter() - started
    if failures:
        raise BenchmarkError(f"batch cycle failed: {failures[0]}")
    return elapsed, peaks


# The batch cycle with each Kafka client (KAFKA_CLIENT), in the table's order.
CLIENTS = {
    "kafka-python": "batch cycle (land+COPY+view)",
    "confluent": "batch cycle, KAFKA_CLIENT=confluent",
}


def run(settings: Settings, events: int, repeats: int) -> list[dict[str, Any]]:
    """Events/s of one batch cycle with each Kafka client and of the floor, ``repeats``
    fresh topics each (the same events: the same seed)."""
    work = REPO / ".stack" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    ours: dict[str, list[float]] = {client: [] for client in CLIENTS}
    rss: dict[str, list[float]] = {client: [] for client in CLIENTS}
    floor = []
    for _ in range(repeats):
        for client in CLIENTS:
            with fresh_lane(settings, "batch") as run_lane:
                produce(run_lane, events)
                with_client = replace(run_lane, env={**run_lane.env, "KAFKA_CLIENT": client})
                seconds, (peak,) = cycles(with_client, [None])
                ours[client].append(events / seconds)
                rss[client].append(peak)
                if client == "kafka-python":
                    floor.append(events / _floor(run_lane, work))
    rows = []
    for client, contender in CLIENTS.items():
        row = summarize("batch cycle events/s", contender, events, ours[client])
        row["kafka_client"] = client
        row["peak_rss_mb"] = statistics.median(rss[client])
        row["peak_rss_min_mb"], row["peak_rss_max_mb"] = min(rss[client]), max(rss[client])
        rows.append(row)
    rows.append(summarize("batch cycle events/s", "kcat -C | gzip; psql \\copy", events, floor))
    # kafka-python checks every record batch's CRC-32C, in C when the optional crc32c
    # package is installed, else in pure Python (about a third of landing's CPU).
    rows[0]["kafka_crc32c"] = "C" if importlib.util.find_spec("crc32c") else "pure Python"
    return add_ratios(rows, rows[-1])


def rss_by_volume(settings: Settings, volumes: list[int], repeats: int) -> list[dict[str, Any]]:
    """Peak RSS of one batch cycle at each volume (median of ``repeats`` fresh topics):
    flat if the cycle streams rather than holding a cycle's events in memory."""
    out = []
    for events in volumes:
        peaks = []
        for _ in range(repeats):
            with fresh_lane(settings, "rss") as run_lane:
                produce(run_lane, events)
                _, (peak,) = cycles(run_lane, [None])
            peaks.append(peak)
        out.append(
            {
                "events": events,
                "peak_rss_mb": statistics.median(peaks),
                "min": min(peaks),
                "max": max(peaks),
                "runs": repeats,
            }
        )
    return out
