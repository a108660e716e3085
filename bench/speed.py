"""Speed-layer freshness and sustained rate, on the local stack with real Spark.

Freshness: probe events (each with its own location, so each makes its own row) are
sent while the synthetic producer streams at ``BENCH_SPEED_RATE`` events/s; a poller
reads ``serving_view`` every 50 ms and notes when each probe's row appears. The figure is
"send call -> visible in serving_view", so it includes Kafka, the trigger wait, the
micro-batch and the warehouse commit.

Sustained rate: the load runs at rising rates until one is not sustained; a rate is
sustained when the speed layer processes >= 95% of it over the window (the backlog does
not grow). The load is ``kcat -P`` sending synthetic events generated before the clock
starts, paced by the rate: it costs this machine what a real producer fleet's messages
cost (the broker's work), not the generation of the events in Python, which belongs to
the producers' machines. The freshness runs' background stream is sent the same way.

Drain capacity: a backlog written while the job is stopped, then read by the restarted job
with nothing else running: the job's own rate, as where producers run on other machines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from bench import ingestion_argv, peak_rss_mb, summarize
from bench.lanes import Lane, fresh_lane
from bench.speed_load import _Load
from bench.speed_phases import read_breakdown
from lambda_common.contract import Event
from lambda_common.errors import BenchmarkError
from lambda_common.kafka.broker import client_config
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
# Spark's start, the connector's jars and the first micro-batch; on a standalone cluster
# also the executors' start and the code shipped to them.
READY_TIMEOUT_S = 180.0
# How long the producer offers each rate of the sustained ladder.
SUSTAINED_SECONDS = 30


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


def _wait_ready(lane: Settings, job: subprocess.Popen[bytes], log: Path) -> None:
    """Until the job has written a first probe row (Spark started, first batch done)."""
    producer = KafkaProducer(acks="all", **client_config(lane))
    event = _probe(0)
    producer.send(lane.kafka_topic, key=event.tweet_id.encode(), value=event.to_json_bytes())
    producer.flush()
    producer.close()
    deadline = time.monotonic() + READY_TIMEOUT_S
    with Warehouse(lane) as wh:
        while time.monotonic() < deadline:
            if wh.query("SELECT 1 FROM serving_view WHERE location = 'probe 0-0'"):
                return
            if job.poll() is not None:
                tail = log.read_text(errors="replace")[-600:]
                raise BenchmarkError(f"the speed job exited ({job.returncode}): {tail}")
            time.sleep(0.2)
    raise BenchmarkError(f"the speed layer did not start within {READY_TIMEOUT_S:.0f} s ({log})")


def _stop(job: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the job stops its query and Spark), then SIGKILL to its whole process
    group (the driver's JVM too) if it has not ended within a minute."""
    job.terminate()
    try:
        job.wait(timeout=60)
    except subprocess.TimeoutExpired:
        logger.warning("the speed job did not stop within 60 s: killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=30)


LOGS: dict[int, Path] = {}
"""The log of each speed job started, by its pid (read by :func:`breakdown`)."""


@contextmanager
def _job(
    lane: Lane, checkpoint: Path, master: str | None, trigger: str | None = None
) -> Iterator[int]:
    """``python -m speed_layer`` on ``lane`` from ``checkpoint`` (``SPEED_TRIGGER``
    ``trigger``, default the settings'), once it has written a first probe row: its pid.
    Stopped afterwards, also on failure (its log stays)."""
    # INFO: the job's phase lines are what bench.speed_phases reads.
    level = os.environ.get("BENCH_SPEED_LOG_LEVEL", "INFO")
    env = {**lane.env, "SPEED_CHECKPOINT": str(checkpoint), "LOG_LEVEL": level}
    if trigger is not None:
        env["SPEED_TRIGGER"] = trigger
    if master is not None:
        env["SPARK_MASTER"] = master
    log_path = checkpoint / "speed.log"
    with log_path.open("ab") as log:
        job = subprocess.Popen(
            [sys.executable, "-m", "speed_layer"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a SIGKILL takes the JVM too
        )
        LOGS[job.pid] = log_path
        try:
            _wait_ready(lane.settings, job, log_path)
            yield job.pid
        finally:
            _stop(job)


@contextmanager
def running_job(
    settings: Settings, kind: str, master: str | None = None, trigger: str | None = None
) -> Iterator[tuple[Lane, int]]:
    """``python -m speed_layer`` on a fresh lane (on SPARK_MASTER ``master``, default the
    settings'; SPEED_TRIGGER ``trigger``, default the settings'), once it has written its
    first micro-batch: the lane and the job's pid.
    Afterwards (also on failure) the job is stopped and the lane dropped; after a success
    its checkpoint and log are removed too."""
    with (
        fresh_lane(settings, kind, tables=True) as lane,
        _checkpoint(kind) as checkpoint,
        _job(lane, checkpoint, master, trigger) as pid,
    ):
        yield lane, pid


@contextmanager
def _checkpoint(kind: str) -> Iterator[Path]:
    """A new checkpoint folder, removed after a success only: a failure leaves the job's
    log (and checkpoint) to read."""
    checkpoint = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    yield checkpoint
    shutil.rmtree(checkpoint, ignore_errors=True)
    checkpoint.with_name(checkpoint.name + ".lock").unlink(missing_ok=True)


def drain(settings: Settings, events: int, timeout_s: float = 600.0) -> dict[str, Any]:
    """Events/s the job processes with nothing else running: ``events`` synthetic events
    are written while the job is stopped (after a first start, so Spark's own warm-up is
    not timed), then the restarted job reads the backlog. The rate is the events over
    the micro-batches' summed durations (their first includes the restart's warm-up, so
    it is a lower bound). Unlike the ladder, no producer shares the cores with the job."""
    with fresh_lane(settings, "drain", tables=True) as lane, _checkpoint("drain") as checkpoint:
        with _job(lane, checkpoint, None):
            pass  # started and stopped: the checkpoint holds the topic's position
        with Warehouse(lane.settings) as wh:
            start = wh.query("SELECT COALESCE(MAX(batch_id), -1) FROM speed_batches")[0][0]
        backlog = subprocess.run(
            ingestion_argv(events, lane.name, "--workers", "2"),
            cwd=REPO,
            env={**lane.env, "KAFKA_CLIENT": "confluent"},
            capture_output=True,
            text=True,
            check=False,
        )
        if backlog.returncode != 0:
            raise BenchmarkError(f"writing the backlog failed: {backlog.stderr[-300:]}")
        began = time.monotonic()
        with _job(lane, checkpoint, None), Warehouse(lane.settings) as wh:
            while True:
                rows = wh.query(
                    "SELECT input_rows, duration_ms FROM speed_batches WHERE batch_id > %s",
                    (start,),
                )
                processed = sum(int(r[0]) for r in rows)
                if processed >= events:
                    break
                if time.monotonic() - began > timeout_s:
                    raise BenchmarkError(
                        f"the speed job processed {processed:,} of {events:,} backlog events "
                        f"in {timeout_s:.0f} s"
                    )
                time.sleep(0.5)
        busy_s = sum(int(r[1]) for r in rows) / 1000
        return {
            "events": processed,
            "batches": len(rows),
            "busy_s": busy_s,
            "capacity_per_s": processed / busy_s,
            "breakdown": read_breakdown(checkpoint / "speed.log", after=start),
        }


def ladder() -> list[int]:
    """The offered rates of the sustained runs (BENCH_SPEED_LADDER, events/s), rising: the
    runs stop after the first rate the job does not keep up with."""
    rates = os.environ.get("BENCH_SPEED_LADDER", "4000,8000,16000,25000,32000,40000,50000")
    return [int(r) for r in rates.split(",")]


def freshness(lane: Lane, rate: int, probes: int, run: int = 1) -> dict[str, Any]:
    """p50/p95 seconds from a probe's send to its row in serving_view (one run)."""
    interval = 0.05
    seconds = int(probes * interval) + 5
    background = _Load(lane, rate, seconds, seed=7 + run).start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:
        with Warehouse(lane.settings) as wh:
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
    producer = KafkaProducer(acks="all", linger_ms=0, **client_config(lane.settings))
    time.sleep(3)  # let the background stream reach its rate
    for i in range(1, probes + 1):
        event = _probe(i, run)
        sent[f"probe {run}-{i}"] = time.perf_counter()
        producer.send(lane.name, key=event.tweet_id.encode(), value=event.to_json_bytes())
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
    if not latencies:
        raise BenchmarkError(
            f"none of {len(sent)} probes reached serving_view within 30 s of the last one "
            f"at {rate:,} events/s: the speed job is far behind (a busy machine?)"
        )
    return {
        "rate": rate,
        "probes": len(sent),
        "seen": len(latencies),
        "p50_s": statistics.median(latencies),
        "p95_s": latencies[int(0.95 * (len(latencies) - 1))],
        "max_s": latencies[-1],
    }


def lines(result: dict[str, Any]) -> list[str]:
    """The time an event of the drain and of the ladder's highest rate kept up with
    (or its first), from the job's own log (``bench.speed_phases``)."""
    from bench.speed_phases import line

    out = [f"speed drain, {line(result['drain'].get('breakdown'))}"]
    kept = [s for s in result["sustained"] if s["kept_up"]] or result["sustained"][:1]
    if kept:
        top = kept[-1]
        out.append(f"speed at {top['rate']:,}/s offered, {line(top.get('breakdown'))}")
    return out


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
    lane: Lane, rates: list[int], seconds: int = SUSTAINED_SECONDS, log: Path | None = None
) -> list[dict[str, Any]]:
    """Processed events/s of the speed layer at each offered rate, up to and including
    the first one it does not keep up with; with the job's ``log``, each rate's time an
    event (``bench.speed_phases``)."""
    out = []
    for rate in rates:
        with Warehouse(lane.settings) as wh:
            start = wh.query("SELECT COALESCE(MAX(batch_id), -1) FROM speed_batches")[0][0]
        load = _Load(lane, rate, seconds, seed=rate)
        began = time.monotonic()
        load.start().wait()
        offered = rate * seconds / (time.monotonic() - began)
        time.sleep(3)
        with Warehouse(lane.settings) as wh:
            rows = wh.query(
                "SELECT input_rows, duration_ms FROM speed_batches WHERE batch_id > %s "
                "ORDER BY batch_id",
                (start,),
            )
            end = wh.query("SELECT COALESCE(MAX(batch_id), -1) FROM speed_batches")[0][0]
        processed = sum(int(r[0]) for r in rows)
        busy_s = sum(int(r[1]) for r in rows) / 1000
        out.append(
            {
                "rate": rate,
                "offered_per_s": offered,
                "processed": processed,
                "capacity_per_s": processed / busy_s if busy_s else 0.0,
                "batches": len(rows),
                "median_batch_s": statistics.median(int(r[1]) for r in rows) / 1000 if rows else 0,
                "kept_up": processed >= 0.95 * rate * seconds,
                "breakdown": read_breakdown(log, start, end) if log is not None else None,
            }
        )
        if not out[-1]["kept_up"]:
            break
    return out


def parse_ceiling(events: int = 50_000, repeats: int = 5) -> dict[str, Any]:
    """Events/s of the job's parse step alone, in this process: synthetic events in Arrow
    batches of Spark's default size through ``parse_batches`` (the contract's parse_event
    and the views' keys), as one Python worker runs it. No Spark, Kafka or warehouse: the
    ceiling one core puts on the job, however fast the rest is."""
    import pyarrow as pa

    from ingestion.synthetic import SyntheticOptions, SyntheticTweets
    from speed_layer.parse import INPUT_COLUMNS, parse_batches

    values = [e.to_json_bytes() for e in SyntheticTweets(SyntheticOptions(seed=1, count=events))]
    clock = int(time.time() * 1_000_000)
    size = 10_000  # spark.sql.execution.arrow.maxRecordsPerBatch's default
    batches = [
        pa.RecordBatch.from_arrays(
            [
                pa.array(values[i : i + size], pa.binary()),
                pa.array([clock] * len(values[i : i + size]), pa.int64()),
                pa.array([0] * len(values[i : i + size]), pa.int32()),
                pa.array(range(i, i + len(values[i : i + size])), pa.int64()),
            ],
            names=list(INPUT_COLUMNS),
        )
        for i in range(0, events, size)
    ]
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        parsed = sum(b.num_rows for b in parse_batches(batches))
        rates.append(parsed / (time.perf_counter() - began))
    return summarize("speed parse step", "parse_batches, one process", events, rates)


def run(settings: Settings) -> dict[str, Any]:
    """Start the job (SPARK_MASTER, default local[*]) on a fresh lane, measure freshness
    and the sustained ladder, stop it, drop the lane."""
    rate = int(os.environ.get("BENCH_SPEED_RATE", "2000"))
    probes = int(os.environ.get("BENCH_SPEED_PROBES", "1000"))
    repeats = int(os.environ.get("BENCH_SPEED_REPEATS", "3"))
    ceiling = parse_ceiling()
    backlog = drain(settings, int(os.environ.get("BENCH_SPEED_DRAIN_EVENTS", "1000000")))
    # SPEED_TRIGGER of the freshness and ladder job (BENCH_SPEED_TRIGGER, e.g. 500ms).
    trigger = os.environ.get("BENCH_SPEED_TRIGGER")
    with running_job(settings, "speed", trigger=trigger) as (lane, pid):
        runs = [freshness(lane, rate, probes, run) for run in range(1, repeats + 1)]
        return {
            "master": settings.spark_master,
            "trigger": trigger or f"{settings.speed_trigger:g}s",
            "freshness": _across(runs),
            "freshness_runs": runs,
            # While the job idles between rates would be unfair to both: measured first.
            "parse_ceiling": ceiling,
            "drain": backlog,
            "sustained": sustained(lane, ladder(), log=LOGS.get(pid)),
            # After the top of the ladder: the Python driver and its JVM together.
            "driver_peak_rss_mb": peak_rss_mb(pid),
        }
