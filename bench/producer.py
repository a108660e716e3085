"""Producer throughput: ``python -m ingestion`` (synthetic, RATE=0; and replaying the
same events from a file) with each ``KAFKA_CLIENT``, vs ``kcat -P``.

All write the same number of events to a fresh topic of the local broker with the same
guarantees (acks=all, idempotence, lz4 batches). Ours are measured by their own summary
line (the rate of sending, from the first send to the final flush; the interpreter's
start-up is reported beside it, not in it), kcat as its whole process (its start-up is
milliseconds). kcat sends pre-generated events (the same synthetic events, written to a
file first), so it measures the broker path alone: the ratio is what Python costs. The replay
rows read the same events from a JSON-lines file (written before timing): parsing and
checking a line instead of generating an event, so generator and producer are seen apart.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    add_ratios,
    batch,
    batch_history,
    batch_scale,
    goals,
    ingestion_argv,
    phases,
    serving,
    speed,
    speed_cluster,
    summarize,
)
from bench import verify as lake_verify
from bench.kcat import kcat_producer
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.errors import BenchmarkError
from lambda_common.kafka.broker import ensure_topic
from lambda_common.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
# BENCH_ONLY's parts, in the order they run; all by default.
PARTS = (
    "producer",
    "batch",
    "batch-scale",
    "batch-history",
    "verify",
    "speed",
    "speed-cluster",
    "serving",
)
START, END = "2026-11-14T00:00:00Z", "2026-11-21T00:00:00Z"


def _timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchmarkError(f"{argv[0]} failed: {result.stderr[-400:]}")
    return elapsed, result.stderr


def _topic(settings: Settings, name: str) -> str:
    topic = f"bench_{name}_{int(time.time() * 1000)}"
    ensure_topic(settings, topic)
    return topic


def _write_events(events: int) -> tuple[Path, Path]:
    """The benchmark's events (seed 1, the synthetic contenders' own), written once:
    ``key<TAB>value`` lines for kcat, and JSON lines for the replay contenders."""
    folder = REPO / ".stack" / "bench"
    tsv, jsonl = folder / f"synthetic-{events}.tsv", folder / f"synthetic-{events}.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    if not (tsv.exists() and jsonl.exists()):
        options = SyntheticOptions(
            seed=1,
            count=events,
            start=datetime(2026, 11, 14, tzinfo=UTC),
            end=datetime(2026, 11, 21, tzinfo=UTC),
        )
        with tsv.open("wb") as keyed, jsonl.open("wb") as lines:
            for e in SyntheticTweets(options):
                value = e.to_json_bytes()
                keyed.write(e.tweet_id.encode() + b"\t" + value + b"\n")
                lines.write(value + b"\n")
    return tsv, jsonl


def run(settings: Settings, events: int, repeats: int) -> list[dict[str, Any]]:
    """Median events/s of each contender over ``repeats`` runs.

    ``python -m ingestion`` runs with each Kafka client (``KAFKA_CLIENT``), generating
    synthetic events, and replaying the same events from a file (``--source replay``):
    the replay rows show the producer's own cost without the generator's.
    """
    kcat = shutil.which("kcat")
    if kcat is None:
        raise BenchmarkError("kcat not found: make deps installs it")
    data, replay = _write_events(events)
    bootstrap = settings.kafka_bootstrap_servers

    synthetic = ("--start", START, "--end", END)
    from_file = ("--source", "replay", "--file", str(replay))

    def ingestion(client: str, *extra: str) -> Contender:
        return Contender(lambda topic: ingestion_argv(events, topic, *extra), client)

    contenders: dict[str, Contender] = {
        "python -m ingestion (1 process)": ingestion("kafka-python", *synthetic),
        "python -m ingestion (--workers 2)": ingestion(
            "kafka-python", *synthetic, "--workers", "2"
        ),
        "python -m ingestion --source replay": ingestion("kafka-python", *from_file),
        "KAFKA_CLIENT=confluent (1 process)": ingestion("confluent", *synthetic),
        "KAFKA_CLIENT=confluent --workers 2": ingestion("confluent", *synthetic, "--workers", "2"),
        "KAFKA_CLIENT=confluent replay": ingestion("confluent", *from_file),
        "kcat -P (pre-generated)": Contender(
            lambda t: [*kcat_producer(kcat, bootstrap, t, linger_ms=20), "-l", str(data)],
            None,
        ),
    }
    rows: list[dict[str, Any]] = []
    for name, contender in contenders.items():
        rates, reports = [], []
        env = None if contender.client is None else {**os.environ, "KAFKA_CLIENT": contender.client}
        for _ in range(repeats):
            topic = _topic(settings, "producer")
            seconds, stderr = _timed(contender.argv(topic), env)
            if contender.client is None:
                rates.append(events / seconds)  # kcat: the whole process
                continue
            try:
                report = phases.producer_summary(stderr)
            except ValueError as e:
                raise BenchmarkError(f"{name}: {e}: {stderr[-300:]}") from None
            rates.append(report["sent"] / report["seconds"])
            reports.append(report)
        row = summarize("producer events/s", name, events, rates)
        row["kafka_client"] = contender.client
        row["processes"] = 2 if "--workers 2" in name else 1
        # Each number of the split: the median of the runs'.
        for key in ("startup_s", "source_us", "send_us", "flush_s"):
            if reports and all(key in r for r in reports):
                row[key] = statistics.median(r[key] for r in reports)
        rows.append(row)
    rows[-1]["stock"] = "kcat"
    add_ratios(rows, rows[-1])
    for row in rows:
        row["ratio_per_process"] = row["ratio"] / row["processes"]
    return rows


@dataclass(frozen=True)
class Contender:
    """A producer benchmark's process: its argv for a topic, and its ``KAFKA_CLIENT``
    (None: not one of ours)."""

    argv: Callable[[str], list[str]]
    client: str | None


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def parts() -> set[str]:
    """The parts BENCH_ONLY names (comma-separated, default all of PARTS)."""
    only = {p.strip() for p in os.environ.get("BENCH_ONLY", ",".join(PARTS)).split(",")}
    unknown = only - set(PARTS) - {""}
    if unknown:
        raise BenchmarkError(
            f"BENCH_ONLY names no such part: {', '.join(sorted(unknown))} "
            f"(parts: {','.join(PARTS)})"
        )
    return only


def scale_note(only: set[str]) -> str:
    """One line on what the scale-out rows can show on this one machine."""
    cpus = os.cpu_count() or 1
    shared = " and ".join(
        what
        for part, what in (
            ("batch-scale", "the 2 batch processes"),
            ("speed-cluster", "the Spark cluster's workers"),
        )
        if part in only
    )
    if cpus <= 2:
        return (
            f"note: {cpus} CPUs here: {shared} share the same {cpus} cores, so these rows show "
            "the overhead and correctness of the distributed path, not scale-out gains"
        )
    return (
        f"note: one machine ({cpus} CPUs): {shared} share it; scale-out across machines "
        "is not measured"
    )


def main() -> int:
    """Run the BENCH_ONLY parts; print the table and the lines; write latest.json."""
    settings = load_settings()
    only = parts()
    rows: list[dict[str, Any]] = []
    batch_rows: list[dict[str, Any]] = []
    if "producer" in only:
        events = int(os.environ.get("BENCH_EVENTS", "200000"))
        rows = run(settings, events, int(os.environ.get("BENCH_REPEATS", "3")))
    batch_events = int(os.environ.get("BENCH_BATCH_EVENTS", "1000000"))
    batch_repeats = int(os.environ.get("BENCH_BATCH_REPEATS", "2"))
    rss_rows: list[dict[str, Any]] = []
    if "batch" in only:
        batch_rows = batch.run(settings, batch_events, batch_repeats)
        volumes = os.environ.get("BENCH_RSS_EVENTS", "100000,300000")
        rss_rows = batch.rss_by_volume(
            settings, [int(v) for v in volumes.split(",") if v], batch_repeats
        )
    scale_rows: list[dict[str, Any]] = []
    if "batch-scale" in only:
        scale_rows = batch_scale.run(settings, batch_events, batch_repeats)
    history = batch_history.run_from_env(settings) if "batch-history" in only else None
    history_rows: list[dict[str, Any]] = history["rows"] if history else []
    verified = lake_verify.run_from_env(settings) if "verify" in only else None
    verify_rows: list[dict[str, Any]] = verified["rows"] if verified else []
    speed_result = speed.run(settings) if "speed" in only else None
    cluster_result = speed_cluster.run(settings) if "speed-cluster" in only else None
    serving_result = serving.run(settings) if "serving" in only else None
    header = ("benchmark", "contender", "median", "spread (min-max)", "ratio")
    print(f"{header[0]:<20} {header[1]:<36} {header[2]:>12} {header[3]:>22} {header[4]:>8}")
    for r in rows + batch_rows + scale_rows + history_rows + verify_rows:
        spread = f"{r['min']:,.0f}-{r['max']:,.0f}"
        print(
            f"{r['benchmark']:<20} {r['contender']:<36} {r['median']:>12,.0f} "
            f"{spread:>22} {r['ratio']:>8.2f}"
        )
    split = [line for line in map(phases.producer_line, rows) if line]
    if split:
        print("producer, where sending's time goes (median of the runs' own summary lines):")
        print("\n".join(split))
    if batch_rows:
        print("\n".join(batch.floor_lines(batch_rows) + batch.phase_lines(batch_rows)))
    if scale_rows:
        print(batch_scale.note(scale_rows))
    if history is not None:
        print("\n".join(batch_history.lines(history)))
    if verified is not None:
        print("\n".join(lake_verify.lines(verified)))
    if speed_result is not None:
        f = speed_result["freshness"]
        print(
            f"\nspeed freshness at {f['rate']:,} events/s (SPEED_TRIGGER "
            f"{speed_result.get('trigger', '1s')}), median of {f['runs']} runs: "
            f"p50 {f['p50_s']:.2f}s ({f['p50_min_s']:.2f}-{f['p50_max_s']:.2f}), "
            f"p95 {f['p95_s']:.2f}s ({f['p95_min_s']:.2f}-{f['p95_max_s']:.2f}), "
            f"max {f['max_s']:.2f}s ({f['seen']}/{f['probes']} probes)"
        )
        c = speed_result["parse_ceiling"]
        print(
            f"speed parse step alone (the contract in one Python process, Arrow batches in "
            f"and out): {c['median']:,.0f} events/s ({c['min']:,.0f}-{c['max']:,.0f}), "
            f"the ceiling each core the job gets puts on it"
        )
        d = speed_result["drain"]
        print(
            f"speed capacity, a backlog of {d['events']:,} events read with nothing else "
            f"running: {d['capacity_per_s']:,.0f} events/s ({d['batches']} micro-batches, "
            f"{d['busy_s']:.1f} s busy, the restart's warm-up included)"
        )
        # With the cluster's ladder, local[*]'s is printed beside it (below) instead.
        for s in speed_result["sustained"] if cluster_result is None else []:
            print(
                f"speed at {s['offered_per_s']:,.0f} events/s offered: {s['processed']:,} "
                f"processed in {s['batches']} batches (median {s['median_batch_s']:.2f}s), "
                f"capacity {s['capacity_per_s']:,.0f}/s, "
                f"{'kept up' if s['kept_up'] else 'fell behind'}"
            )
        print("\n".join(speed.lines(speed_result)))
    if cluster_result is not None:
        print("\n".join(speed_cluster.lines(speed_result, cluster_result)))
    if scale_rows or cluster_result:
        print(scale_note(only))
    if batch_rows:
        top = batch_rows[0]
        sizes = [
            *rss_rows,
            {
                "events": top["events"],
                "peak_rss_mb": top["peak_rss_mb"],
                "min": top["peak_rss_min_mb"],
                "max": top["peak_rss_max_mb"],
            },
        ]
        print(
            "\nbatch cycle peak RSS (largest process), median (min-max): "
            + ", ".join(
                f"{r['peak_rss_mb']:,.0f} MiB ({r['min']:,.0f}-{r['max']:,.0f}) "
                f"at {r['events']:,} events"
                for r in sizes
            )
        )
    if speed_result is not None:
        print(f"speed job peak RSS (driver + JVM): {speed_result['driver_peak_rss_mb']:,.0f} MiB")
    if serving_result is not None:
        print(
            f"\nserving_view queries, {serving_result['days']} days x "
            f"{serving_result['locations']} locations ({serving_result['view_rows']:,} view rows):"
        )
        for q in serving_result["queries"]:
            print(
                f"  {q['query']:<16} p50 {q['p50_ms']:6.1f} ms  p95 {q['p95_ms']:6.1f} ms  "
                f"(min {q['min_ms']:.1f}, max {q['max_ms']:.1f}, {q['runs']} runs)"
            )
        print("dashboard endpoints over the same rows, through HTTP (goal p95 <= 50 ms):")
        for q in serving_result["dashboard"]:
            print(
                f"  {q['endpoint']:<44} p50 {q['p50_ms']:6.1f} ms  p95 {q['p95_ms']:6.1f} ms  "
                f"(min {q['min_ms']:.1f}, max {q['max_ms']:.1f}, {q['runs']} runs)"
            )
    judged = goals.judge(rows, batch_rows, speed_result, history_rows)
    if judged:
        print("\ngoals (the project's targets; a missed one is profiled in docs/performance.md):")
        print("\n".join(g.line() for g in judged))
    out = REPO / "bench" / "results" / "latest.json"
    out.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "results": rows + batch_rows + scale_rows + history_rows + verify_rows,
                "speed": speed_result,
                "speed_cluster": cluster_result,
                "batch_rss_by_volume": rss_rows,
                "batch_history": history,
                "verify": verified,
                "serving": serving_result,
                "goals": [asdict(g) for g in judged],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as e:  # says what failed (with its stderr's tail): no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
