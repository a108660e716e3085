"""Where the speed job's time goes, per event, read from its own log: each micro-batch's
line of the sink's phases (``speed batch N phases: E events, spark X s, warehouse Y s``:
the Spark job that reads Kafka, parses and collects the events to the driver; the
warehouse transaction that stages and de-duplicates them and runs every view's SELECT
and MERGE) and its status line (``speed batch N: ..., D s, ...``: the whole trigger, Spark's
own offsets, planning and checkpoint besides the sink)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_PHASES = re.compile(
    r"speed batch (?P<id>\d+) phases: (?P<events>\d+) events, spark (?P<spark>[\d.]+) s, "
    r"warehouse (?P<warehouse>[\d.]+) s"
)
_STATUS = re.compile(
    r"speed batch (?P<id>\d+): [\d,]+ input rows, .*?, (?P<total>[\d.]+)s, max event time"
)


def breakdown(text: str, after: int = -1, upto: int | None = None) -> dict[str, Any] | None:
    """The micro-batches ``after < id <= upto`` of a job's log ``text`` (ids of a
    checkpoint: one job run's, or its restart's), summed: events, and microseconds an event
    in the Spark job, the warehouse, the rest of the trigger, and in all. None without a
    micro-batch that had events."""
    phases: dict[int, tuple[int, float, float]] = {}
    totals: dict[int, float] = {}
    for line in text.splitlines():
        found = _PHASES.search(line)
        if found:
            phases[int(found["id"])] = (
                int(found["events"]),
                float(found["spark"]),
                float(found["warehouse"]),
            )
            continue
        found = _STATUS.search(line)
        if found:
            totals[int(found["id"])] = float(found["total"])
    ids = [i for i in phases if i > after and (upto is None or i <= upto) and phases[i][0]]
    events = sum(phases[i][0] for i in ids)
    if not events:
        return None
    spark = sum(phases[i][1] for i in ids)
    warehouse = sum(phases[i][2] for i in ids)
    total = sum(totals.get(i, phases[i][1] + phases[i][2]) for i in ids)
    per = 1e6 / events
    return {
        "events": events,
        "batches": len(ids),
        "spark_us": spark * per,
        "warehouse_us": warehouse * per,
        "rest_us": max(total - spark - warehouse, 0.0) * per,
        "total_us": total * per,
    }


def read_breakdown(log: Path, after: int = -1, upto: int | None = None) -> dict[str, Any] | None:
    """:func:`breakdown` of the log file ``log`` (None when it is gone)."""
    if not log.exists():
        return None
    return breakdown(log.read_text(errors="replace"), after, upto)


def line(b: dict[str, Any] | None) -> str:
    """One line of a breakdown: ``per event: spark (Kafka read, parse, collect)
    X µs + warehouse Y µs + rest of the trigger Z µs = T µs (E events)``."""
    if b is None:
        return "per event: no micro-batch with events"
    return (
        f"per event: spark (Kafka read, parse, collect) {b['spark_us']:.1f} µs"
        f" + warehouse (stage, de-dup, views' SELECT, MERGE, commit) {b['warehouse_us']:.1f} µs"
        f" + rest of the trigger (offsets, planning, checkpoint) {b['rest_us']:.1f} µs"
        f" = {b['total_us']:.1f} µs ({b['events']:,} events, {b['batches']} micro-batches)"
    )
