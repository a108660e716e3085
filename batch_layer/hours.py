"""Which hours of the batch views a cycle rebuilds: the rule, written once.

A batch table holds the view of every hour before the horizon. A cycle changes that in
two ways only: rows it newly loaded into hours already before the horizon (late events),
and hours the horizon moves over. So the hours to rebuild are

- the hours of the newly loaded rows that lie before the **new** horizon, and
- the hours in ``[old horizon, new horizon)``;

everything else in the batch table is unchanged, because the raw tables only ever gain
rows (a tweet id is loaded once, never replaced). Before the first horizon there is no
batch table to keep: the first rebuild is the full one, ``[BEGINNING, horizon)``.

Rebuilding an hour is a pure recomputation of that hour from the raw tables, so
rebuilding *more* hours than needed is always correct, only slower: that is how the
number of ranges (one pair of statements per range and view) is kept small when late
events scatter over many hours. Both warehouse targets (``load.BatchWarehouse`` and the
in-memory one) call these functions, so the rule is tested in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "BEGINNING",
    "HOUR",
    "MAX_RANGES",
    "HourRange",
    "day_ranges",
    "full_range",
    "hours_in",
    "plan_rebuild",
    "rebuild_ranges",
]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

BEGINNING = datetime(1, 1, 1)
"""The lower bound of a full rebuild: before every hour a timestamp can hold (naive UTC,
as the views' hours are)."""

MAX_RANGES = 16
"""At most this many ranges a rebuild: gaps are closed, smallest first, beyond it."""


@dataclass(frozen=True, order=True)
class HourRange:
    """The hours ``since <= event_hour < until`` (naive UTC, hour-aligned)."""

    since: datetime
    until: datetime

    @property
    def is_full(self) -> bool:
        """Whether this range starts at the beginning of time (a full rebuild)."""
        return self.since == BEGINNING


def full_range(horizon: datetime) -> list[HourRange]:
    """Every hour before ``horizon``: the full rebuild."""
    return [HourRange(BEGINNING, horizon)]


def _merge(ranges: list[HourRange]) -> list[HourRange]:
    """Overlapping or adjacent ranges joined; sorted."""
    merged: list[HourRange] = []
    for r in sorted(ranges):
        if merged and r.since <= merged[-1].until:
            if r.until > merged[-1].until:
                merged[-1] = HourRange(merged[-1].since, r.until)
        else:
            merged.append(r)
    return merged


def _cap(ranges: list[HourRange], limit: int) -> list[HourRange]:
    """At most ``limit`` ranges: the smallest gaps between neighbours are closed (the
    hours in a closed gap are rebuilt too, which is correct and bounded by the gap)."""
    if len(ranges) <= limit:
        return ranges
    gaps = sorted(range(len(ranges) - 1), key=lambda i: (ranges[i + 1].since - ranges[i].until, i))
    close = set(gaps[: len(ranges) - limit])
    capped = [ranges[0]]
    for i in range(1, len(ranges)):
        if i - 1 in close:
            capped[-1] = HourRange(capped[-1].since, ranges[i].until)
        else:
            capped.append(ranges[i])
    return capped


def rebuild_ranges(
    loaded_hours: Iterable[datetime],
    old: datetime | None,
    new: datetime,
    *,
    limit: int = MAX_RANGES,
) -> list[HourRange]:
    """The hours a cycle must rebuild, as at most ``limit`` sorted, disjoint ranges.

    ``loaded_hours``: the hours of the rows this cycle newly loaded (any order, repeats
    allowed); ``old``: the horizon before the cycle (None before the first); ``new``: the
    horizon it publishes (never below ``old``). Empty when nothing changed.
    """
    if old is None:
        return full_range(new)
    if new < old:
        raise ValueError(f"the horizon never moves back ({old} -> {new})")
    ranges = [HourRange(h, h + HOUR) for h in set(loaded_hours) if h < new]
    if new > old:
        ranges.append(HourRange(old, new))
    return _cap(_merge(ranges), limit)


def day_ranges(ranges: Iterable[HourRange]) -> list[HourRange]:
    """The whole UTC days the ranges touch, as ranges of hours (``batch_daily`` is kept
    per day: a day with one rebuilt hour is summed again from its hours)."""
    days = []
    for r in ranges:
        since = r.since.replace(hour=0)
        last = r.until - HOUR
        days.append(HourRange(since, last.replace(hour=0) + DAY))
    return _merge(days)


def hours_in(ranges: Iterable[HourRange]) -> int:
    """How many hours the ranges hold (a full range counts its hours from BEGINNING)."""
    return sum(int((r.until - r.since) / HOUR) for r in ranges)


def plan_rebuild(
    views: Iterable[str],
    stale: set[str],
    loaded_hours: Iterable[datetime],
    old: datetime | None,
    new: datetime,
) -> dict[str, list[HourRange]]:
    """What a cycle publishing horizon ``new`` rebuilds, view by view: the touched hours
    (:func:`rebuild_ranges`), and every hour of a ``stale`` view (its definition changed
    since its table was last rebuilt in full). Empty when nothing needs rebuilding."""
    ranges = rebuild_ranges(loaded_hours, old, new)
    plan = {name: full_range(new) if name in stale else ranges for name in views}
    return {name: r for name, r in plan.items() if r}
