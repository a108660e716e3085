"""``make verify``'s rate (``verify``): events of the master dataset checked per second.

One lane (a fresh topic and schema) grows through the sizes of ``BENCH_VERIFY_EVENTS``
(events in S3, ascending; default ``100000,1000000``): at each, the events it lacks are
produced (3 days up to 2 h ago, so every hour lies before the horizon and is compared;
5% duplicates, 10% late) and one batch cycle (``python -m batch_layer once``) lands and
loads them. Then ``python -m batch_layer.lake verify`` runs ``BENCH_VERIFY_REPEATS`` times
(default 3) as users run it, a whole process (Python's start-up included), and must say
OK; its rate is the events it read over the process's seconds. Beside it, the floor: the
same engine's bare read of the same objects (``python -m batch_layer.lake query`` of
``SELECT COUNT(*) FROM master_tweets``, a process too), so the ratio says what the
de-duplication, the three views, the warehouse's snapshot and the row-by-row comparison
cost on top of reading S3. Verify's own closing line gives its rate without the
start-up; the growth from one size to the next says how it scales with history.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import add_ratios, batch, batch_history, summarize, timed_run
from bench.lanes import Lane, fresh_lane
from lambda_common.errors import BenchmarkError
from lambda_common.settings import Settings

BENCHMARK = "verify events/s"
DEFAULT_SIZES = "100000,1000000"
_VERIFY = [sys.executable, "-m", "batch_layer.lake", "verify"]
_COUNT = [
    sys.executable,
    *("-m", "batch_layer.lake", "query", "--format", "csv"),
    *("--sql", "SELECT COUNT(*) FROM master_tweets"),
]
# The closing line: "verify: OK, 1,234 events checked in 0.6s (2,057 events/s)"; the rate
# is read, not the seconds, which it rounds to a tenth.
_CLOSING = re.compile(
    r"^verify: OK, (?P<events>[\d,]+) events checked in [\d.]+s \((?P<rate>[\d,]+) events/s\)",
    re.MULTILINE,
)


def sizes(text: str) -> list[int]:
    """The sizes of ``BENCH_VERIFY_EVENTS`` (comma-separated event counts), ascending and
    distinct, each above 0."""
    try:
        values = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise BenchmarkError(
            f"BENCH_VERIFY_EVENTS: expected counts like 100000,400000: {text!r}"
        ) from None
    if not values or values[0] <= 0:
        raise BenchmarkError(f"BENCH_VERIFY_EVENTS: expected counts above 0: {text!r}")
    return values


def closing(stdout: str) -> tuple[int, int]:
    """(events, events/s) of verify's closing OK line; ``BenchmarkError`` without one."""
    found = _CLOSING.search(stdout)
    if found is None:
        raise BenchmarkError(f"make verify did not say OK: {stdout[-600:]}")
    return int(found["events"].replace(",", "")), int(found["rate"].replace(",", ""))


def _timed(argv: list[str], env: dict[str, str], what: str) -> tuple[float, str]:
    """Run ``argv`` as one process: its seconds and its standard output."""
    elapsed, done = timed_run(argv, env, what)
    return elapsed, done.stdout


def _grow(lane: Lane, events: int, seed: int) -> None:
    """``events`` more synthetic events into the lane's topic, landed by one cycle."""
    end = datetime.now(UTC) - timedelta(hours=2)
    batch_history.produce(lane, events, seed, end - timedelta(days=3), end)
    batch.cycles(lane, [None])


def _measure(lane: Lane, env: dict[str, str], repeats: int) -> dict[str, Any]:
    """Verify and the floor ``repeats`` times each, alternating, over what S3 holds."""
    seconds: list[float] = []
    inside: list[int] = []
    floor: list[float] = []
    events = 0
    for _ in range(repeats):
        elapsed, out = _timed(_VERIFY, env, "make verify")
        events, own_rate = closing(out)
        seconds.append(elapsed)
        inside.append(own_rate)
        elapsed, out = _timed(_COUNT, env, "make lake-query")
        if int(out.splitlines()[-1]) != events:
            raise BenchmarkError(f"lake-query counted {out.strip()!r}, verify {events:,} events")
        floor.append(elapsed)
    return {"events": events, "verify_s": seconds, "inside": inside, "floor_s": floor}


def run(settings: Settings, targets: list[int], repeats: int) -> dict[str, Any]:
    """Measure each size of ``targets`` in one growing lane; the result's ``rows`` go in
    the bench's table (verify and its floor at each size, the ratio to the floor's)."""
    started = time.perf_counter()
    measured, rows = [], []
    with fresh_lane(settings, "verify") as lane:
        env = {**lane.env, "QUERY_DSN": lane.settings.query_dsn.get_secret_value()}
        produced = 0
        for seed, target in enumerate(targets, start=1):
            _grow(lane, target - produced, seed)
            produced = target
            m = _measure(lane, env, repeats)
            measured.append(m)
            n = m["events"]
            ours = summarize(BENCHMARK, f"make verify ({n:,} events)", n, rates(m, "verify_s"))
            ours["inside_median"] = statistics.median(m["inside"])
            ours["inside_min"], ours["inside_max"] = min(m["inside"]), max(m["inside"])
            bare = summarize(BENCHMARK, "floor: lake-query COUNT(*)", n, rates(m))
            rows += add_ratios([ours, bare], bare)
    return {"repeats": repeats, "part_s": time.perf_counter() - started, "rows": rows}


def rates(measured: dict[str, Any], key: str = "floor_s") -> list[float]:
    """Events per second of each of ``measured``'s runs of ``key``."""
    return [measured["events"] / s for s in measured[key]]


def run_from_env(settings: Settings) -> dict[str, Any]:
    """:func:`run` with the sizes and repeats from the environment."""
    return run(
        settings,
        sizes(os.environ.get("BENCH_VERIFY_EVENTS", DEFAULT_SIZES)),
        int(os.environ.get("BENCH_VERIFY_REPEATS", "3")),
    )


def lines(result: dict[str, Any]) -> list[str]:
    """The block printed under the table: verify's own rate (no start-up) at each size,
    and how its time grew with the events in S3."""
    ours = [r for r in result["rows"] if r["contender"].startswith("make verify")]
    out = [
        f"\nmake verify, median of {result['repeats']} runs at each size (the part took "
        f"{result['part_s'] / 60:.1f} min):"
    ]
    for row in ours:
        out.append(
            f"  {row['events']:,} events: {row['median']:,.0f} events/s as a process, "
            f"{row['inside_median']:,.0f} ({row['inside_min']:,.0f}-{row['inside_max']:,.0f}) "
            "by its own closing line (Python's start-up left out)"
        )
    if len(ours) > 1:
        first, last = ours[0], ours[-1]
        grown = last["events"] / first["events"]
        slower = grown * first["median"] / last["median"]
        inside = grown * first["inside_median"] / last["inside_median"]
        out.append(
            f"  {grown:.1f}x the events took {slower:.1f}x the time as a process, "
            f"{inside:.1f}x by its own closing line"
        )
    return out
