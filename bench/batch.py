"""Batch cycle throughput: one ``run_cycle`` (land + load + view), with each Kafka client
(``KAFKA_CLIENT``), vs two stock-tool floors on the same events.

The raw floor is what the bare tools do with the same topic: ``kcat -C | gzip`` to a
file, then ``psql \\copy`` of the raw JSON lines into a one-column table: no validation,
de-duplication, ledger or view. The fair floor (:mod:`bench.fair_floor`) does the
cycle's semantic work with stock tools only (kcat, gzip, s3cmd, psql: COPY, INSERT ...
ON CONFLICT DO NOTHING, the hashtags and the views' own SQL). The ratios say what our
code costs over the stock tools doing the same work, and what the work itself costs.
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

from bench import add_ratios, fair_floor, ingestion_argv, phases, summarize
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


def cycles(
    lane: Lane, partition_sets: Sequence[str | None], logs: list[str] | None = None
) -> tuple[float, list[float]]:
    """Batch cycles as users run them (``python -m batch_layer once``, each its own
    process), one per entry of ``partition_sets`` (None: all partitions; ``"0/2"``:
    ``--partitions 0/2``), all started at once: seconds from the first start to the last
    end, and each one's peak RSS in MiB of its largest process (the cycle or a landing
    worker; Linux reports the maximum over a process and its reaped children). ``logs``,
    when given, receives each one's stderr (its log)."""
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
        err.seek(0)
        text = err.read().decode(errors="replace")
        err.close()
        if process.returncode != 0:
            failures.append(text[-400:])
        if logs is not None:
            logs.append(text)
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
    phase_runs: dict[str, list[dict[str, float]]] = {client: [] for client in CLIENTS}
    floor, fair, fair_steps = [], [], []
    for _ in range(repeats):
        for client in CLIENTS:
            with fresh_lane(settings, "batch") as run_lane:
                produce(run_lane, events)
                # At INFO the cycle logs its "batch phases:" line (a few lines in all).
                env = {**run_lane.env, "KAFKA_CLIENT": client, "LOG_LEVEL": "INFO"}
                logs: list[str] = []
                seconds, (peak,) = cycles(replace(run_lane, env=env), [None], logs)
                ours[client].append(events / seconds)
                rss[client].append(peak)
                phase_runs[client].append(_phases_of(logs[0], events))
                if client == "kafka-python":
                    floor.append(events / _floor(run_lane, work))
                    done = fair_floor.run(run_lane.settings, run_lane.name, work)
                    fair.append(events / done.seconds)
                    fair_steps.append(done.steps)
    rows = []
    for client, contender in CLIENTS.items():
        row = summarize("batch cycle events/s", contender, events, ours[client])
        row["kafka_client"] = client
        row["peak_rss_mb"] = statistics.median(rss[client])
        row["peak_rss_min_mb"], row["peak_rss_max_mb"] = min(rss[client]), max(rss[client])
        row["phases_s"] = phases.median_phases(phase_runs[client])
        rows.append(row)
    fair_row = summarize("batch cycle events/s", FAIR_FLOOR, events, fair)
    fair_row["stock"] = "fair"
    fair_row["steps_s"] = median_steps(fair_steps)
    rows.append(fair_row)
    rows.append(summarize("batch cycle events/s", RAW_FLOOR, events, floor))
    rows[-1]["stock"] = "raw"
    # kafka-python checks every record batch's CRC-32C, in C when the optional crc32c
    # package is installed, else in pure Python (about a third of landing's CPU).
    rows[0]["kafka_crc32c"] = "C" if importlib.util.find_spec("crc32c") else "pure Python"
    for row in rows:
        row["ratio_fair"] = row["median"] / fair_row["median"]
    return add_ratios(rows, rows[-1])


FAIR_FLOOR = "fair floor: kcat,gzip,s3cmd,psql SQL"
RAW_FLOOR = "kcat -C | gzip; psql \\copy"


def median_steps(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each step's median seconds over ``runs`` (steps of the first run, in its order)."""
    return {step: statistics.median(r[step] for r in runs) for step in (runs[0] if runs else {})}


def floor_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The batch cycle's ratios to the fair floor, and the fair floor's steps."""
    fair = next((r for r in rows if r.get("stock") == "fair"), None)
    if fair is None:
        return []
    ours = ", ".join(f"{r['contender']} {r['ratio_fair']:.2f}" for r in rows if not r.get("stock"))
    steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in fair["steps_s"].items())
    return [
        f"batch cycle over the fair floor (same events, same runs): {ours}",
        f"fair floor's steps, median seconds of {fair['runs']} runs: {steps}",
    ]


def _phases_of(log: str, events: int) -> dict[str, float]:
    try:
        landed, seconds = phases.batch_phases(log)
    except ValueError as e:
        raise BenchmarkError(f"batch cycle: {e}: {log[-300:]}") from None
    if landed != events:
        raise BenchmarkError(f"batch cycle landed {landed:,} events, not {events:,}")
    return seconds


def phase_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Each batch contender's breakdown: the median seconds of each phase over its runs,
    per event (landing phases summed over the landing workers)."""
    return [
        phases.per_event_line(f"  {r['contender']}", r["events"], r["phases_s"])
        for r in rows
        if r.get("phases_s")
    ]


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
