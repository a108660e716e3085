"""The dashboard's JSON documents, built from what was read: pure functions, no I/O.

Every chart of the page draws one of these documents, and users script against the same
endpoints (docs/monitoring.md: make dashboard). Times are UTC, written
``2026-12-02T10:00:00Z``; counts are whole numbers; durations are seconds.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from lambda_common.views import View
from serving_layer.dashboard.monitor import Snapshot
from serving_layer.dashboard.reads import Hours, MicroBatch, Top
from serving_layer.status_facts import RANK, Check, Level
from serving_layer.status_meanings import MEANINGS, family

DEFAULT_HOURS = 48
"""The window of the hourly chart and the top keys unless ``hours=`` says otherwise."""
MAX_HOURS = 24 * 90
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_BATCHES = 60
MAX_BATCHES = 1000


def iso(moment: datetime | None) -> str | None:
    """A naive-UTC time as ISO 8601 with ``Z``; None stays None."""
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 3)


def plotly_text(value: Any) -> str:
    """A value as text Plotly draws as it is.

    Plotly reads a subset of HTML in every text it draws (tick labels, hover labels,
    legends, titles): ``<a href>`` becomes a link, ``<span style>`` may paint over the
    chart, ``<br>`` breaks the line. Escaping ``<``, ``>`` and ``&`` leaves no tag to
    read, and Plotly turns the entities back into the characters on screen. ``None`` is
    the empty text.
    """
    return "" if value is None else html.escape(str(value), quote=False)


def view_document(view: View) -> dict[str, Any]:
    """What the page and scripts need to know of a view."""
    return {
        "name": view.name,
        "keys": [k.name for k in view.keys],
        "serving_view": view.serving_view,
        "batch_table": view.batch_table,
        "speed_table": view.speed_table,
    }


def hours_document(view: View, hours: Hours, since: datetime, now: datetime) -> dict[str, Any]:
    """Tweets per hour of a view's serving view over the window, each hour with the layer
    that serves it, the horizon, and the totals per layer."""
    totals = Counter({"batch": 0, "speed": 0})
    for row in hours.rows:
        totals[row.layer] += row.tweets
    return {
        "view": view.name,
        "serving_view": view.serving_view,
        "since": iso(since),
        "until": iso(now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)),
        "horizon": iso(hours.horizon),
        "rows": [{"hour": iso(r.hour), "tweets": r.tweets, "layer": r.layer} for r in hours.rows],
        "totals": {"batch": totals["batch"], "speed": totals["speed"], "all": sum(totals.values())},
    }


def top_document(view: View, top: Top, since: datetime, limit: int) -> dict[str, Any]:
    """A view's keys with the most tweets over the window, each with its share of the
    window's tweets (over every key, not only those shown). ``key`` holds the values as
    they are (for scripts); ``label`` is what the page's chart draws: the values joined
    by `` / ``, as Plotly-safe text (:func:`plotly_text`), the one user-derived text of
    any chart."""
    keys = [k.name for k in view.keys]
    return {
        "view": view.name,
        "keys": keys,
        "since": iso(since),
        "limit": limit,
        "total": top.total,
        "rows": [
            {
                "key": dict(zip(keys, row.key, strict=True)),
                "label": " / ".join(plotly_text(v) for v in row.key),
                "tweets": row.tweets,
                "share": round(row.tweets / top.total, 6) if top.total else 0.0,
            }
            for row in top.rows
        ],
    }


def batch_rate(batch: MicroBatch) -> float | None:
    """A micro-batch's input rate in events per second (None for an instant batch)."""
    if batch.duration_ms <= 0:
        return None
    return round(batch.input_rows / (batch.duration_ms / 1000), 1)


def speed_document(batches: tuple[MicroBatch, ...], now: datetime) -> dict[str, Any]:
    """The speed layer's newest micro-batches, oldest first (the chart's order)."""
    return {
        "now": iso(now),
        "batches": [
            {
                "batch_id": b.batch_id,
                "finished_at": iso(b.finished_at),
                "duration_s": b.duration_ms / 1000,
                "input_rows": b.input_rows,
                "rejects": b.rejects,
                "input_rate": batch_rate(b),
                "newest_event": iso(b.max_event_time),
            }
            for b in reversed(batches)
        ],
    }


def _check_line(check: Check) -> dict[str, Any]:
    meaning = MEANINGS.get(family(check.name))
    return {
        "level": check.level.value,
        "name": check.name,
        "detail": check.detail,
        "family": family(check.name),
        "meaning": meaning,
    }


def status_document(snapshot: Snapshot | None, now: datetime) -> dict[str, Any]:
    """The health panel: ``make status``'s checks, and the numbers behind them (horizon,
    freshness, lag per partition, rejects by layer, rows per view)."""
    if snapshot is None:
        return {"status": None, "gathered_at": None, "checks": [], "message": "gathering"}
    facts, w, k = snapshot.facts, snapshot.facts.warehouse, snapshot.facts.kafka
    checks = snapshot.checks
    worst = max((c.level for c in checks), key=RANK.__getitem__, default=Level.OK)
    counts = Counter(c.level for c in checks)
    last = w.last_speed_batch
    return {
        "status": worst.value,
        "counts": {level.value: counts[level] for level in Level},
        "gathered_at": iso(snapshot.gathered_at),
        "gathered_age_s": _age_s(snapshot.gathered_at, now),
        "checks": [_check_line(c) for c in checks],
        "horizon": iso(w.horizon),
        "horizon_age_s": _age_s(w.horizon, now),
        "newest_event": iso(w.max_event_time),
        "freshness_s": _age_s(w.max_event_time, now),
        "partitions": [
            {"partition": p.partition, "end": p.end, "committed": p.committed, "lag": p.lag}
            for p in k.partitions
        ],
        "rejects": {
            "batch": {"rejects": w.ledger_rejects, "messages": w.ledger_events + w.ledger_rejects},
            "speed": {"rejects": w.speed_rejects_day, "messages": w.speed_input_day},
        },
        "last_speed_batch": None
        if last is None
        else {
            "batch_id": last.batch_id,
            "finished_at": iso(last.finished_at),
            "duration_s": last.duration_ms / 1000,
            "input_rows": last.input_rows,
        },
        "views": [
            {
                "view": v.view.name,
                "batch_rows": v.batch_rows,
                "speed_rows": v.speed_rows,
                "serving_rows": v.serving_rows,
                "serving_tweets": v.serving_tweets,
                "duplicates": v.duplicates,
            }
            for v in w.views
        ],
        "errors": {"kafka": k.error, "s3": facts.s3.error, "warehouse": w.error},
    }
