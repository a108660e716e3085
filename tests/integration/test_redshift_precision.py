"""Sums past 10^19 - 1 served exactly: through every serving view, ``daily_totals`` and
``top_locations``, on Redshift (opt-in, as tests/integration/test_redshift.py) and on the
local PostgreSQL.

Amazon documents a DECIMAL column of a UNION as at most 19 digits (see
lambda_common/sql/common/view_serving.sql): two counts of 2^63 - 1 add up to 20 digits.
Here one batch hour holds 2 * (2^63 - 1) in each sum (two such tweets), a batch hour and
a speed hour of one location hold 2^63 - 1 each, and batch_daily holds the earlier day's
2 * (2^63 - 1): each must come back exact, as the contract's DECIMAL(38,0).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from psycopg2 import sql

from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import MEASURES, View
from lambda_common.warehouse import Warehouse
from serving_layer.execute import run_named
from serving_layer.params import utc_now
from tests.integration.helpers import Lane
from tests.integration.test_redshift import BUCKET, DSN, redshift

__all__ = ["redshift"]  # the fixture, used by name

TOP = 2**63 - 1
TWICE = 2 * TOP  # 18446744073709551614: 20 digits
PLACE = "Overflow City"


class _Hours:
    """Today's first hour D; the horizon at D + 1 h: D is served from batch, D + 1 h from
    speed; D - 19 h is the day before (batch_daily serves that day)."""

    def __init__(self) -> None:
        now = utc_now()
        self.day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.horizon = self.day + timedelta(hours=1)
        self.before = self.day - timedelta(hours=19)


def _key(view: View) -> tuple[Any, ...]:
    """The key of the view's big row besides event_hour (every shipped key is text)."""
    return tuple(PLACE if k.name == "location" else "overflow" for k in view.keys)


def _insert(cur: Any, table: str, row: tuple[Any, ...]) -> None:
    marks = sql.SQL(", ").join(sql.Placeholder() * len(row))
    cur.execute(sql.SQL("INSERT INTO {} VALUES ({})").format(sql.Identifier(table), marks), row)


def _publish(settings: Settings, hours: _Hours) -> None:
    """What a cycle and the speed layer leave: the big rows in every view's tables,
    batch_daily for the day before, the horizon."""
    with Warehouse(settings) as wh:
        wh.ensure_schema()
        with wh.transaction() as cur:
            for view in settings.views:
                key = _key(view)
                _insert(cur, view.batch_table, (hours.before, *key, 2, TWICE, TWICE, TWICE))
                _insert(cur, view.batch_table, (hours.day, *key, 1, TOP, TOP, TOP))
                _insert(cur, view.speed_table, (hours.horizon, *key, 1, TOP, TOP, TOP))
            _insert(cur, "batch_horizon", (hours.horizon,))
            for statement in statements(load_sql("batch_daily_rebuild", wh.dialect)):
                cur.execute(statement, {"since": hours.before, "until": hours.day})


def _served(settings: Settings, view: View) -> dict[datetime, tuple[int, ...]]:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in ("event_hour", *MEASURES))
    query = sql.SQL("SELECT {} FROM {}").format(columns, sql.Identifier(view.serving_view))
    with Warehouse(settings) as wh:
        rows = wh.query(query)
    return {r[0]: tuple(int(v) for v in r[1:]) for r in rows}


def _check_sums(settings: Settings) -> None:
    hours = _Hours()
    _publish(settings, hours)
    for view in settings.views:
        assert _served(settings, view) == {
            hours.before: (2, TWICE, TWICE, TWICE),
            hours.day: (1, TOP, TOP, TOP),
            hours.horizon: (1, TOP, TOP, TOP),
        }, view.name
    with Warehouse(settings, role="reader") as reader:
        daily = run_named(reader, "daily_totals", {"days": "3"})
        top = run_named(reader, "top_locations", {"hours": "48"})
        hourly = run_named(reader, "location_hourly", {"location": PLACE, "hours": "48"})
    by_day = {row[0]: row for row in daily.rows}
    # The day before from batch_daily; today added up over serving_view's two layers.
    for day in (hours.before.date(), hours.day.date()):
        assert list(by_day[day][2:5]) == [Decimal(TWICE)] * 3, by_day[day]
    (row,) = top.rows
    assert row[0] == PLACE and list(row[2:5]) == [Decimal(2 * TWICE)] * 3
    assert [list(r[2:5]) for r in hourly.rows] == [
        [Decimal(TOP)] * 3,
        [Decimal(TOP)] * 3,
        [Decimal(TWICE)] * 3,
    ]


@pytest.mark.skipif(
    not (DSN and BUCKET),
    reason="opt-in: set REDSHIFT_TEST_DSN and REDSHIFT_TEST_S3_BUCKET to run against Redshift",
)
def test_sums_past_19_digits_are_served_exactly_on_redshift(redshift: Settings) -> None:
    _check_sums(redshift)


def test_sums_past_19_digits_are_served_exactly_on_postgres(lane: Lane) -> None:
    _check_sums(lane.settings)
