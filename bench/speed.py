"""Speed-layer freshness and sustained rate, on the local stack with real Spark.

Freshness: probe events (each with its own location, so each makes its own row) are
sent while the synthetic producer streams at ``BENCH_SPEED_RATE`` events/s; a poller
reads ``serving_view`` every 50 ms and notes when each probe's row appears. The figure is
"send call -> visible in serving_view", so it includes Kafka, the trigger wait, the
micro-batch and the warehouse commit.

Sustained rate: the producer runs at rising rates; a rate is sustained when the speed
layer processes >= 95% of it over the window (the backlog does not grow).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from bench import peak_rss_mb
from lambda_common.broker import client_config, ensure_topic
from lambda_common.contract import Event
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[1]


def _lane(settings: Settings, name: str) -> tuple[Settings, dict[str, str]]:
    """A fresh topic and warehouse schema for one benchmark run."""
    lane = f"bench_{name}_{int(time.time())}"
    with Warehouse(settings) as wh:
        wh.execute(f'CREATE SCHEMA "{lane}"')
    lane_settings = settings.in_schema(lane, topic=lane)
    dsn = lane_settings.warehouse_dsn.get_secret_value()
    ensure_topic(lane_settings, lane)
    with Warehouse(lane_settings) as wh:
        wh.ensure_schema()
    env = {**os.environ, "KAFKA_TOPIC": lane, "WAREHOUSE_DSN": dsn, "LOG_LEVEL": "WARNING"}
    return lane_settings, env


def _drop(settings: Settings, lane: Settings) -> None:
    with Warehouse(settings) as wh:
        wh.execute(f'DROP SCHEMA "{lane.kafka_topic}" CASCADE')


def _producer(env: dict[str, str], rate: int, seconds: int, seed: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "ingestion", "--rate", str(rate), "--count", str(rate * seconds)]
    return subprocess.Popen(
        [*argv, "--seed", str(seed)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _probe(i: int, run: int = 0) -> Event:
    # Ids and locations unique per run: a repeated id would be dropped as a duplicate.
    return Event(
        tweet_id=str(9_000_000_000_000_000_000 + run * 1_000_000 + i),
        created_at=datetime.now(UTC),
        user_id="probe",
        followers_count=0,
        favorite_count=0,
        retweet_count=0,
        location=f"probe {run}-{i}",
    )


def _wait_ready(lane: Settings, timeout: float = 180) -> None:
    """Until the job has written a first probe row (Spark started, first batch done)."""
    producer = KafkaProducer(acks="all", **client_config(lane))
    event = _probe(0)
    producer.send(lane.kafka_topic, key=event.tweet_id.encode(), value=event.to_json_bytes())
    producer.flush()
    producer.close()
    deadline = time.monotonic() + timeout
    with Warehouse(lane) as wh:
        while time.monotonic() < deadline:
            if wh.query("SELECT 1 FROM serving_view WHERE location = 'probe 0-0'"):
                return
            time.sleep(0.2)
    raise RuntimeError("the speed layer did not start within 3 minutes")


def freshness(
    lane: Settings, env: dict[str, str], rate: int, probes: int, run: int = 1
) -> dict[str, Any]:
    """p50/p95 seconds from a probe's send to its row in serving_view (one run)."""
    interval = 0.05
    seconds = int(probes * interval) + 5
    background = _producer(env, rate, seconds, seed=7 + run)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:
        with Warehouse(lane) as wh:
            while not done.is_set():
                rows = wh.query(
                    "SELECT location FROM serving_view WHERE location LIKE %s", (f"probe {run}-%",)
                )
                now = time.perf_counter()
                for (location,) in rows:
                    seen.setdefault(location, now)
                time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    producer = KafkaProducer(acks="all", linger_ms=0, **client_config(lane))
    time.sleep(3)  # let the background stream reach its rate
    for i in range(1, probes + 1):
        event = _probe(i, run)
        sent[f"probe {run}-{i}"] = time.perf_counter()
        producer.send(lane.kafka_topic, key=event.tweet_id.encode(), value=event.to_json_bytes())
        time.sleep(interval)
    producer.flush()
    producer.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(k in seen for k in sent):
        time.sleep(0.2)
    done.set()
    poller.join()
    background.wait()
    latencies = sorted(seen[k] - t for k, t in sent.items() if k in seen)
    return {
        "rate": rate,
        "probes": len(sent),
        "seen": len(latencies),
        "p50_s": statistics.median(latencies),
        "p95_s": latencies[int(0.95 * (len(latencies) - 1))],
        "max_s": latencies[-1],
    }


def _across(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several freshness runs as one row: the median of each percentile, and its spread."""
    out: dict[str, Any] = {"rate": runs[0]["rate"], "runs": len(runs)}
    out["probes"] = sum(r["probes"] for r in runs)
    out["seen"] = sum(r["seen"] for r in runs)
    for key in ("p50_s", "p95_s"):
        values = [r[key] for r in runs]
        out[key] = statistics.median(values)
        out[key.replace("_s", "_min_s")] = min(values)
        out[key.replace("_s", "_max_s")] = max(values)
    out["max_s"] = max(r["max_s"] for r in runs)
    return out


def sustained(
    lane: Settings, env: dict[str, str], rates: list[int], seconds: int
) -> list[dict[str, Any]]:
    """Processed events/s of the speed layer at each offered rate."""
    out = []
    for rate in rates:
        with Warehouse(lane) as wh:
            start = wh.query("SELECT COALESCE(MAX(batch_id), -1) FROM speed_batches")[0][0]
        began = time.monotonic()
        _producer(env, rate, seconds, seed=rate).wait()
        offered = rate * seconds / (time.monotonic() - began)
        time.sleep(3)
        with Warehouse(lane) as wh:
            rows = wh.query(
                "SELECT input_rows, duration_ms FROM speed_batches WHERE batch_id > %s "
                "ORDER BY batch_id",
                (start,),
            )
        processed = sum(int(r[0]) for r in rows)
        busy_s = sum(int(r[1]) for r in rows) / 1000
        out.append(
            {
                "offered_per_s": offered,
                "processed": processed,
                "capacity_per_s": processed / busy_s if busy_s else 0.0,
                "batches": len(rows),
                "median_batch_s": statistics.median(int(r[1]) for r in rows) / 1000 if rows else 0,
                "kept_up": processed >= 0.95 * rate * seconds,
            }
        )
    return out


def run(settings: Settings) -> dict[str, Any]:
    """Start the job on a fresh lane, measure, stop it, drop the lane."""
    rate = int(os.environ.get("BENCH_SPEED_RATE", "2000"))
    probes = int(os.environ.get("BENCH_SPEED_PROBES", "1000"))
    repeats = int(os.environ.get("BENCH_SPEED_REPEATS", "3"))
    ladder = [int(r) for r in os.environ.get("BENCH_SPEED_LADDER", "2000,4000,8000").split(",")]
    lane, env = _lane(settings, "speed")
    env["SPEED_CHECKPOINT"] = tempfile.mkdtemp(prefix="bench-speed-")
    log = open(Path(env["SPEED_CHECKPOINT"]) / "speed.log", "wb")  # noqa: SIM115
    job = subprocess.Popen(
        [sys.executable, "-m", "speed_layer"],
        cwd=REPO,
        env={**env, "LOG_LEVEL": "INFO"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(lane)
        runs = [freshness(lane, env, rate, probes, run) for run in range(1, repeats + 1)]
        result = {
            "freshness": _across(runs),
            "freshness_runs": runs,
            "sustained": sustained(lane, env, ladder, seconds=30),
            # After the top of the ladder: the Python driver and its JVM together.
            "driver_peak_rss_mb": peak_rss_mb(job.pid),
        }
    finally:
        job.terminate()
        job.wait(timeout=60)
        log.close()
        _drop(settings, lane)
    return result
