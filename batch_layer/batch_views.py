"""Bringing the batch tables to a new horizon, in the cycle's transaction: the hours a
cycle touched (:func:`batch_layer.hours.plan_rebuild`), a view whose definition changed in
full, and ``batch_daily`` for the days of the locations view's rebuilt hours. Every view's
rows are its own SELECT's (:func:`lambda_common.views.sql.batch_rebuild`)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from batch_layer.hours import HourRange, day_ranges, full_range, plan_rebuild
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import LOCATIONS, View
from lambda_common.views.sql import batch_fingerprint, batch_rebuild
from lambda_common.warehouse import Cursor

logger = logging.getLogger(__name__)


class BatchViews:
    """Rebuilds the batch tables' hours, in the transaction it is handed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dialect = settings.warehouse_dialect

    def _one(self, name: str) -> str:
        (statement,) = statements(load_sql(name, self.dialect))
        return statement

    def _run_file(self, cur: Cursor, name: str, params: dict[str, Any] | None = None) -> None:
        for statement in statements(load_sql(name, self.dialect)):
            cur.execute(statement, params)

    def refresh(
        self, cur: Cursor, new_hours: set[datetime], old: datetime | None, horizon: datetime
    ) -> None:
        """Bring every batch table to ``horizon``: the hours this cycle touched
        (:func:`batch_layer.hours.rebuild_ranges`), and in full a view whose definition
        changed since its table was last rebuilt in full (or that never was)."""
        views = {v.name: v for v in self.settings.views}
        plan = plan_rebuild(views, self._stale_views(cur), new_hours, old, horizon)
        if plan:
            self._rebuild(cur, {views[name]: ranges for name, ranges in plan.items()})

    def rebuild_all(self, cur: Cursor, horizon: datetime) -> None:
        self._rebuild(cur, {v: full_range(horizon) for v in self.settings.views})

    def _stale_views(self, cur: Cursor) -> set[str]:
        """The views whose batch table was not last rebuilt in full by their definition."""
        views = self.settings.views
        cur.execute(
            self._one("batch_fingerprints"),
            {"names": tuple(_fingerprint_name(v) for v in views)},
        )
        recorded = {str(name): str(sha) for name, sha in cur.fetchall()}
        return {
            v.name
            for v in views
            if recorded.get(_fingerprint_name(v)) != batch_fingerprint(v, self.dialect)
        }

    def _rebuild(self, cur: Cursor, plan: dict[View, list[HourRange]]) -> None:
        # Every view in this one transaction, with the horizon: readers never see one
        # view's batch table of another horizon than the rest, nor a half-rebuilt hour.
        for view, ranges in plan.items():
            for statement in batch_rebuild(view, self.dialect):
                for r in ranges:
                    cur.execute(statement, {"since": r.since, "until": r.until})
            if ranges and ranges[0].is_full:
                self._run_file(
                    cur,
                    "schema_object_record",
                    {"name": _fingerprint_name(view), "sha": batch_fingerprint(view, self.dialect)},
                )
        hours = rows = 0
        locations = next((v for v in plan if v.name == LOCATIONS), None)
        rebuilt = plan[locations] if locations is not None else []
        for r in rebuilt:
            cur.execute(self._one("batch_rebuilt_stats"), {"since": r.since, "until": r.until})
            counted = cur.fetchone() or (0, 0)
            hours, rows = hours + int(counted[0]), rows + int(counted[1])
        # batch_daily sums batch_view (the locations view) by day.
        for day in day_ranges(rebuilt):
            self._run_file(cur, "batch_daily_rebuild", {"since": day.since, "until": day.until})
        full = sorted(v.name for v, ranges in plan.items() if ranges and ranges[0].is_full)
        logger.info(
            "rebuilt %d hours (%d raw rows) of %d views in %d ranges%s",
            hours,
            rows,
            len(plan),
            len(rebuilt),
            f"; in full: {', '.join(full)}" if full else "",
        )


def _fingerprint_name(view: View) -> str:
    """The ``schema_objects`` name of a view's batch-table fingerprint."""
    return f"batch_rebuild:{view.name}"
