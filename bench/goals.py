"""The performance goals ``make bench`` reports on, each judged from one run's results.

Goals are the project's targets (docs/performance.md), not test assertions: a missed
one is printed as missed, with the figure that missed it, and the run still succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Ours over the stock tool's median: the producer's rate of sending over kcat -P's, per
# process, in the same run on the same cores; the batch cycle over the fair floor (the
# cycle's work with stock tools, bench/fair_floor.py) and over the raw floor (kcat -C |
# gzip + psql \copy into one column).
PRODUCER_RATIO = 0.3
BATCH_FAIR_RATIO = 0.8
BATCH_RAW_RATIO = 0.4
# Events/s the speed job keeps up with on local[*] (the load from kcat -P), drains a
# backlog at, and the probe's p95 at the freshness rate.
SPEED_KEPT_UP = 25_000
SPEED_DRAIN = 40_000
FRESHNESS_P95_S = 1.0
# A batch cycle of the same new events with the largest history in the warehouse, over
# the same cycle with none (batch-history's median seconds).
HISTORY_GROWTH = 1.25


@dataclass(frozen=True)
class Goal:
    """One goal: what it asks, the best this run did, and whether that meets it."""

    name: str
    target: str
    achieved: str
    met: bool

    def line(self) -> str:
        """``goal: target; achieved: met|MISSED`` for the bench's stdout."""
        verdict = "met" if self.met else "MISSED"
        return f"  {self.name:<34} {self.target:<28} {self.achieved:<44} {verdict}"


def _best(
    rows: list[dict[str, Any]], benchmark: str, ratio: str = "ratio"
) -> dict[str, Any] | None:
    """Our best contender of ``benchmark`` by ``ratio``: the stock tools' rows are marked
    ``stock`` (or, unmarked, the stock tool's row is the last, the baseline)."""
    rows = [r for r in rows if r["benchmark"] == benchmark]
    marked = any(r.get("stock") for r in rows)
    ours = [r for r in rows if not r.get("stock")] if marked else rows[:-1]
    return max(ours, key=lambda r: r[ratio]) if ours else None


def judge(
    producer_rows: list[dict[str, Any]],
    batch_rows: list[dict[str, Any]],
    speed: dict[str, Any] | None,
    history_rows: list[dict[str, Any]] | None = None,
) -> list[Goal]:
    """The goals the run measured (a part left out by BENCH_ONLY is not judged)."""
    goals = []
    ratio_goals = (
        (
            producer_rows,
            "producer events/s",
            "producer vs kcat -P, per process",
            PRODUCER_RATIO,
            "kcat -P",
            "ratio_per_process",
        ),
        (
            batch_rows,
            "batch cycle events/s",
            "batch cycle vs the fair floor",
            BATCH_FAIR_RATIO,
            "the fair floor",
            "ratio_fair",
        ),
        (
            batch_rows,
            "batch cycle events/s",
            "batch cycle vs the raw floor",
            BATCH_RAW_RATIO,
            "the raw floor",
            "ratio",
        ),
    )
    for rows, benchmark, name, ratio, stock, key in ratio_goals:
        best = _best(rows, benchmark, key)
        if best is not None and key in best:
            goals.append(
                Goal(
                    name,
                    f">= {ratio:.2f} of {stock}",
                    f"{best[key]:.2f} ({best['contender']})",
                    best[key] >= ratio,
                )
            )
    if speed is not None:
        kept = [s["offered_per_s"] for s in speed["sustained"] if s["kept_up"]]
        top = max(kept, default=0.0)
        missed = [s for s in speed["sustained"] if not s["kept_up"]]
        limit = f", fell behind at {missed[0]['offered_per_s']:,.0f}/s" if missed else ""
        goals.append(
            Goal(
                "speed layer kept up (local[*])",
                f">= {SPEED_KEPT_UP:,} events/s",
                f"{top:,.0f}/s{limit}",
                top >= SPEED_KEPT_UP,
            )
        )
        drained = speed["drain"]["capacity_per_s"]
        goals.append(
            Goal(
                "speed capacity, backlog (local[*])",
                f">= {SPEED_DRAIN:,} events/s",
                f"{drained:,.0f}/s",
                drained >= SPEED_DRAIN,
            )
        )
        fresh = speed["freshness"]
        goals.append(
            Goal(
                f"freshness p95 at {fresh['rate']:,}/s",
                f"<= {FRESHNESS_P95_S:.1f} s",
                f"{fresh['p95_s']:.2f} s",
                fresh["p95_s"] <= FRESHNESS_P95_S,
            )
        )
    history = _history_goal(history_rows or [])
    if history is not None:
        goals.append(history)
    return goals


def _history_goal(rows: list[dict[str, Any]]) -> Goal | None:
    """The cycle with the largest history over the cycle on an empty warehouse; None
    unless the run measured both."""
    empty = [r for r in rows if r["history_rows"] == 0]
    largest = max(rows, key=lambda r: r["history_rows"], default=None)
    if not empty or largest is None or largest["history_rows"] == 0:
        return None
    growth = largest["median_s"] / empty[0]["median_s"]
    return Goal(
        "batch cycle vs history",
        f"<= {HISTORY_GROWTH:.2f}x empty warehouse's",
        f"{growth:.2f}x at {largest['history_rows']:,} rows "
        f"({largest['median_s']:.1f} vs {empty[0]['median_s']:.1f} s)",
        growth <= HISTORY_GROWTH,
    )
