"""Batch cycle throughput: one ``run_cycle`` (land + load + view) vs a stock-tool floor.

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
import time
from pathlib import Path
from typing import Any

from bench import add_ratios, ingestion_argv, summarize
from lambda_common.broker import ensure_topic
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[1]


def _produce(settings: Settings, topic: str, events: int) -> None:
    ensure_topic(settings, topic)
    result = subprocess.run(
        ingestion_argv(events, topic, "--workers", "2", "--backfill", "3d"),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"producing the benchmark events failed: {result.stderr[-300:]}")


def _schema_settings(settings: Settings, schema: str, topic: str) -> Settings:
    with Warehouse(settings) as wh:
        wh.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return settings.in_schema(schema, topic=topic)


def _floor(settings: Settings, topic: str, schema: str, work: Path) -> float:
    kcat, psql = shutil.which("kcat"), shutil.which("psql")
    if kcat is None or psql is None:
        raise RuntimeError("kcat and psql are needed (make deps)")
    dump = work / f"{topic}.jsonl.gz"
    # The connection through libpq's environment: no password in psql's argv.
    pg_env = {**os.environ, **settings.warehouse.libpq_environment()}
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
                settings.kafka_bootstrap_servers,
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


def _cycle(settings: Settings) -> tuple[float, float]:
    """One batch cycle as users run it (``python -m batch_layer once``, its own process):
    seconds, and the peak RSS in MiB of its largest process (the cycle or a landing
    worker; Linux reports the maximum over a process and its reaped children)."""
    env = {
        **os.environ,
        "KAFKA_TOPIC": settings.kafka_topic,
        "WAREHOUSE_DSN": settings.warehouse_dsn.get_secret_value(),
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "batch_layer", "once"], cwd=REPO, env=env, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        err = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise RuntimeError(f"batch cycle failed: {err[-400:]}")
    return elapsed, usage.ru_maxrss / 1024


def run(settings: Settings, events: int, repeats: int) -> list[dict[str, Any]]:
    """Events/s of one batch cycle and of the floor, ``repeats`` fresh topics each."""
    work = REPO / ".stack" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    ours, floor, rss = [], [], []
    for _ in range(repeats):
        stamp = int(time.time() * 1000)
        topic, schema = f"bench_batch_{stamp}", f"bench_{stamp}"
        _produce(settings, topic, events)
        lane = _schema_settings(settings, schema, topic)
        seconds, peak = _cycle(lane)
        ours.append(events / seconds)
        rss.append(peak)
        floor.append(events / _floor(lane, topic, schema, work))
        with Warehouse(settings) as wh:
            wh.execute(f'DROP SCHEMA "{schema}" CASCADE')
    rows = [
        summarize("batch cycle events/s", "batch cycle (land+COPY+view)", events, ours),
        summarize("batch cycle events/s", "kcat -C | gzip; psql \\copy", events, floor),
    ]
    rows[0]["peak_rss_mb"] = statistics.median(rss)
    rows[0]["peak_rss_min_mb"], rows[0]["peak_rss_max_mb"] = min(rss), max(rss)
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
            stamp = int(time.time() * 1000)
            topic, schema = f"bench_rss_{stamp}", f"bench_rss_{stamp}"
            _produce(settings, topic, events)
            _, peak = _cycle(_schema_settings(settings, schema, topic))
            peaks.append(peak)
            with Warehouse(settings) as wh:
                wh.execute(f'DROP SCHEMA "{schema}" CASCADE')
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
