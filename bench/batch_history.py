"""Batch cycle cost against the history already in the warehouse (``batch-history``).

One lane (a fresh topic and schema) is grown from one history size to the next
(``BENCH_HISTORY_ROWS``, e.g. ``0,5000000,20000000``; 0 must be one of them, the
baseline): the rows are written with set-based SQL (:mod:`bench.history_seed`), the
first cycle of a handful of real events sets the horizon and the partitions'
watermarks, and ``python -m batch_layer rebuild-views`` brings the batch views to the
history (timed: what a full rebuild costs at that size). Then, ``BENCH_HISTORY_REPEATS``
times, ``BENCH_HISTORY_EVENTS`` new synthetic events (5% duplicates, 10% late: up to
6 h before their time, so into hours the views have published already) are produced to
the lane's topic and one ``python -m batch_layer once`` is timed as a whole process,
logging at INFO: the cycle's ``rebuilt N hours (M raw rows) of K views`` line says what
it re-aggregated. A cycle that rebuilds only the hours it touched costs the same
whatever the history; one that rebuilds every view from every row grows with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psycopg2
from psycopg2 import sql

from batch_layer.plan import horizon_for
from bench import add_ratios, history_seed, phases, summarize, timed_run
from bench.lanes import Lane, fresh_lane
from lambda_common.errors import BenchmarkError
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from local_stack.postgres import PostgresService

logger = logging.getLogger(__name__)

BENCHMARK = "batch history ev/s"
DEFAULT_SIZES = "0,5000000,20000000"
DUPLICATES = 0.05
LATE = 0.10
# The first cycle's events, a handful: the cycle is there to set the horizon and every
# partition's watermark, which the timed cycles and rebuild-views start from.
WARM_UP_EVENTS = 1_000
# The full rebuild of every batch view from the raw tables; the module attribute lets a
# check against a version without the command run another in its place.
REBUILD_ARGV: tuple[str, ...] = ("-m", "batch_layer", "rebuild-views")
_ONCE = [sys.executable, "-m", "batch_layer", "once"]
# The cycle's INFO line on what it re-aggregated (numbers may carry thousands commas).
_TOUCHED = re.compile(
    r"rebuilt (?P<hours>[\d,]+) hours? \((?P<rows>[\d,]+) raw rows?\) of (?P<views>[\d,]+) views?"
)


def sizes(text: str) -> list[int]:
    """The history sizes of ``BENCH_HISTORY_ROWS`` (comma-separated row counts), ascending
    and distinct: the lane grows through them in order. 0, the baseline, must be one."""
    try:
        values = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise BenchmarkError(
            f"BENCH_HISTORY_ROWS: expected row counts like 0,5000000: {text!r}"
        ) from None
    if not values or values[0] != 0:
        raise BenchmarkError(
            f"BENCH_HISTORY_ROWS must include 0, the empty warehouse every size is compared "
            f"with: {text!r}"
        )
    return values


def touched(log: str) -> dict[str, int] | None:
    """The hours, raw rows and views of the cycle's last ``rebuilt N hours (M raw rows) of
    K views`` line in ``log``; None if it logged none (a version that does not say)."""
    found = list(_TOUCHED.finditer(log))
    if not found:
        return None
    last = found[-1]
    return {key: int(last[key].replace(",", "")) for key in ("hours", "rows", "views")}


def _run(argv: list[str], env: dict[str, str], what: str) -> tuple[float, str]:
    """Run ``argv`` from the repository as one process: its seconds and its stderr."""
    elapsed, done = timed_run(argv, env, what)
    return elapsed, done.stderr


def _rfc3339(moment: datetime) -> str:
    """A naive UTC or aware time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def produce(lane: Lane, events: int, seed: int, start: datetime, end: datetime) -> None:
    """``events`` synthetic events (``seed``; 5% duplicates, 10% late) created between
    ``start`` and ``end``, to the lane's topic."""
    argv = [
        sys.executable,
        "-m",
        "ingestion",
        "--source",
        "synthetic",
        "--count",
        str(events),
        "--rate",
        "0",
        "--seed",
        str(seed),
        "--start",
        _rfc3339(start),
        "--end",
        _rfc3339(end),
        "--duplicates",
        str(DUPLICATES),
        "--late",
        str(LATE),
        "--workers",
        "2",
        "--topic",
        lane.name,
    ]
    _run(argv, lane.env, "producing the benchmark events")


def _horizon(lane: Lane) -> datetime | None:
    """The lane's published batch horizon (None before its first cycle)."""
    (statement,) = statements(load_sql("horizon_get", lane.settings.warehouse_dialect))
    with Warehouse(lane.settings) as wh:
        rows = wh.query(statement)
    return rows[0][0] if rows else None


def _count(lane: Lane, table: str) -> int:
    with Warehouse(lane.settings) as wh:
        return int(wh.query(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table)))[0][0])


def _window(lane: Lane, anchor: datetime) -> tuple[datetime, datetime]:
    """New events' time window: from the published horizon (the anchor before the first
    cycle) to now. Late ones go back from there into the history's newest hours."""
    return _horizon(lane) or anchor, datetime.now(UTC)


def settle(lane: Lane) -> None:
    """Bring the lane's warehouse to the steady state of one that has run for a while,
    before its cycles are timed: the raw tables vacuumed and analysed (autovacuum would
    have, over the many cycles that loaded them) and a CHECKPOINT (the seeding and the
    full rebuild write gigabytes; their checkpoints should not land inside the cycles
    that follow). The same at every size, the empty one included. The CHECKPOINT needs
    the local stack's superuser; without it (another server) the step is skipped."""
    dsn = lane.settings.warehouse_dsn.get_secret_value()
    with contextlib.closing(psycopg2.connect(dsn)) as conn:
        conn.autocommit = True  # VACUUM refuses to run inside a transaction
        with conn.cursor() as cur:
            for table in ("raw_tweets", "raw_hashtags"):
                cur.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    server = PostgresService(lane.settings, lane.settings.local_stack_dir.resolve())
    if not server.superuser_password_path.exists():
        logger.warning(
            "no local stack superuser at %s: no CHECKPOINT before the cycles",
            server.superuser_password_path,
        )
        return
    server.checkpoint()


def _measure_size(
    lane: Lane, size: int, anchor: datetime, events: int, repeats: int, serial: list[int]
) -> dict[str, Any]:
    """Rebuild the views, then time ``repeats`` cycles of ``events`` new events each."""
    rebuild_s, _ = _run([sys.executable, *REBUILD_ARGV], lane.env, "batch_layer rebuild-views")
    raw_rows = _count(lane, "raw_tweets")
    settle(lane)
    seconds, logs, phase_runs = [], [], []
    info = {**lane.env, "LOG_LEVEL": "INFO"}
    for repeat in range(repeats):
        serial[0] += 1  # each cycle its own new events
        produce(lane, events, serial[0], *_window(lane, anchor))
        elapsed, log = _run(_ONCE, info, "batch_layer once")
        seconds.append(elapsed)
        logs.append(touched(log))
        with contextlib.suppress(ValueError):  # a version that logs no phases line
            phase_runs.append(phases.batch_phases(log)[1])
        logger.info("history %d rows, cycle %d: %.1fs", size, repeat + 1, elapsed)
    said = [t for t in logs if t is not None]
    return {
        "history_rows": size,
        "raw_rows": raw_rows,
        "rebuild_s": rebuild_s,
        "cycle_s": seconds,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "touched_hours": statistics.median(t["hours"] for t in said) if said else None,
        "touched_rows": statistics.median(t["rows"] for t in said) if said else None,
        "touched_views": said[-1]["views"] if said else None,
        "rates": [events / s for s in seconds],
        "phases_s": phases.median_phases(phase_runs),
    }


def run(
    settings: Settings, history: list[int], events: int, repeats: int, days: int
) -> dict[str, Any]:
    """Measure each history size of ``history`` (ascending, from 0) in one growing lane;
    the result's ``rows`` go in the bench's table (events/s, ratio to the empty
    warehouse's), the rest says how each size was made and what its cycles touched."""
    started = time.perf_counter()
    anchor = horizon_for(datetime.now(UTC), settings.allowed_lateness)
    per_hour = history_seed.rows_per_hour(history[-1], days)
    measured: list[dict[str, Any]] = []
    serial = [0]
    with fresh_lane(settings, "history", tables=True) as lane:
        with Warehouse(lane.settings) as wh:
            with_event_hour = history_seed.hashtags_have_event_hour(wh)
        seeded = 0
        for size in history:
            seed: history_seed.SeedResult | None = None
            if size > seeded:
                with Warehouse(lane.settings) as wh:
                    seed = history_seed.seed(
                        wh,
                        anchor,
                        seeded,
                        size,
                        per_hour=per_hour,
                        # The lane's topic has the default partition count.
                        partitions=lane.settings.kafka_topic_partitions,
                    )
                seeded = size
            if _horizon(lane) is None:
                serial[0] += 1
                produce(lane, WARM_UP_EVENTS, serial[0], *_window(lane, anchor))
                _run(_ONCE, lane.env, "the first cycle")
            row = _measure_size(lane, size, anchor, events, repeats, serial)
            row["seed_s"] = seed.insert_s if seed else None
            row["analyze_s"] = seed.analyze_s if seed else None
            row["seeded_tweets"] = seed.tweets if seed else 0
            row["seeded_hashtags"] = seed.hashtags if seed else 0
            measured.append(row)
    rows = [_table_row(m, events) for m in measured]
    add_ratios(rows, rows[0])
    for row in rows:
        row["cycle_vs_empty"] = row["median_s"] / rows[0]["median_s"]
    return {
        "events": events,
        "duplicates": DUPLICATES,
        "late": LATE,
        "repeats": repeats,
        "days": days,
        "rows_per_hour": per_hour,
        "anchor": anchor.isoformat(),
        "hashtags_event_hour": with_event_hour,
        "part_s": time.perf_counter() - started,
        "rows": rows,
    }


def _table_row(measured: dict[str, Any], events: int) -> dict[str, Any]:
    size = measured["history_rows"]
    row = summarize(BENCHMARK, f"once, history {size:,} rows", events, measured.pop("rates"))
    row.update(measured)
    return row


def run_from_env(settings: Settings) -> dict[str, Any]:
    """:func:`run` with the sizes, events, repeats and days from the environment."""
    return run(
        settings,
        sizes(os.environ.get("BENCH_HISTORY_ROWS", DEFAULT_SIZES)),
        int(os.environ.get("BENCH_HISTORY_EVENTS", "100000")),
        int(os.environ.get("BENCH_HISTORY_REPEATS", "3")),
        int(os.environ.get("BENCH_HISTORY_DAYS", "60")),
    )


def _touched_text(row: dict[str, Any]) -> tuple[str, str]:
    if row["touched_hours"] is None:
        return "n/a", "n/a"
    return f"{row['touched_hours']:,.0f}", f"{row['touched_rows']:,.0f}"


def lines(result: dict[str, Any]) -> list[str]:
    """The block printed under the table: per size, the cycle's seconds and growth over
    the empty warehouse's, the full rebuild's, what the cycle re-aggregated, the seeding."""
    out = [
        f"\nbatch cycle vs history: {result['events']:,} new events a cycle "
        f"({result['duplicates']:.0%} duplicates, {result['late']:.0%} late), median of "
        f"{result['repeats']} cycles",
        f"  history seeded with SQL, {result['rows_per_hour']:,} rows an hour back from "
        f"{result['anchor']}; the part took {result['part_s'] / 60:.1f} min",
        f"  {'history rows':>14} {'cycle s (min-max)':>22} {'events/s':>9} {'vs empty':>9} "
        f"{'rebuild s':>10} {'touched hours':>14} {'touched rows':>13} {'seeded in':>10}",
    ]
    for row in result["rows"]:
        cycle = f"{row['median_s']:.1f} ({row['min_s']:.1f}-{row['max_s']:.1f})"
        hours, rows = _touched_text(row)
        seeded = "-" if row["seed_s"] is None else f"{row['seed_s'] + row['analyze_s']:.0f} s"
        out.append(
            f"  {row['history_rows']:>14,} {cycle:>22} {row['median']:>9,.0f} "
            f"{row['cycle_vs_empty']:>8.2f}x {row['rebuild_s']:>10.1f} {hours:>14} "
            f"{rows:>13} {seeded:>10}"
        )
    for row in result["rows"]:
        if row.get("phases_s"):
            label = f"  history {row['history_rows']:,} rows, the cycle's phases (median s)"
            out.append(label + ": " + ", ".join(f"{k} {v:.2f}" for k, v in row["phases_s"].items()))
    return out
