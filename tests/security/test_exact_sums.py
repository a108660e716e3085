"""Bad input the contract allows or refuses, against the real broker, S3 and warehouse:
counts up to 2^63 - 1 add up exactly (the sums are numeric(38,0)) in the batch layer, the
speed layer, serving_view and ``make query``; a user_id over 256 characters is a reject
in both layers; a warehouse created with bigint sums is widened in place.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2.errors
import pytest
from psycopg2 import sql

from batch_layer.cycle import run_cycle
from batch_layer.hours import BEGINNING
from batch_layer.landing import REJECTS_PREFIX, read_master_object
from lambda_common.contract import Event
from lambda_common.objectstore import S3ObjectStore
from lambda_common.sql import load_sql, statements
from lambda_common.views import load_views
from lambda_common.views.sql import serving_ddl, table_ddl
from lambda_common.warehouse import Warehouse
from tests.integration.helpers import (
    Lane,
    SpeedJob,
    ViewKey,
    ViewSums,
    expected_view,
    run_module,
    send_raw,
    view_rows,
    wait_until_equal,
)

TOP = 2**63 - 1  # the largest count the contract allows
PLACE = "Overflow City"
TOO_LONG = "reason: field 'user_id' must be 1 to 256 characters"
SUM_COLUMNS = ("followers_sum", "favorite_sum", "retweet_sum")
# batch_daily_rebuild.sql rebuilds the days since <= day < until: here, every day.


def _top_event(tweet_id: str, at: datetime, user_id: str = "u") -> tuple[bytes, bytes]:
    event = Event(
        tweet_id=tweet_id,
        created_at=at,
        user_id=user_id,
        followers_count=TOP,
        favorite_count=TOP,
        retweet_count=TOP,
        location=PLACE,
    )
    return tweet_id.encode(), event.to_json_bytes()


def _long_user_id(tweet_id: str, at: datetime) -> tuple[bytes, bytes]:
    """A message that is valid but for its user_id of 257 characters (Event refuses it)."""
    body = json.loads(_top_event(tweet_id, at)[1]) | {"user_id": "😀" * 257}
    return tweet_id.encode(), json.dumps(body, ensure_ascii=False).encode()


def _send(lane: Lane, at: list[datetime], first_id: int) -> list[tuple[bytes, bytes]]:
    """Two events with the largest counts in each hour of ``at`` (one with a user_id of
    exactly 256 characters), and one user_id too long: returns the rejected message."""
    messages = []
    for n, when in enumerate(at):
        messages.append(_top_event(str(first_id + 2 * n), when))
        messages.append(_top_event(str(first_id + 2 * n + 1), when, user_id="😀" * 256))
    rejected = _long_user_id(str(first_id + 99), at[0])
    send_raw(lane.settings, [*messages, rejected])
    return [rejected]


def _query_json(lane: Lane, *args: str) -> list[dict[str, Any]]:
    done = run_module("serving_layer", "query", *args, "--format", "json", env=lane.env())
    assert done.returncode == 0, done.stderr[-800:]
    parsed: list[dict[str, Any]] = json.loads(done.stdout)
    return parsed


def _sum_types(lane: Lane) -> dict[tuple[str, str], str]:
    with Warehouse(lane.settings) as wh:
        rows = wh.query(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
            "WHERE c.relnamespace = to_regnamespace(%s) AND a.attnum > 0 "
            "AND a.attname IN ('tweet_count', 'followers_sum', 'favorite_sum', 'retweet_sum')",
            (lane.schema,),
        )
    return {(table, column): kind for table, column, kind in rows}


def test_a_batch_cycle_adds_the_largest_counts_exactly_and_rejects_a_long_user_id(
    lane: Lane,
) -> None:
    now = datetime.now(UTC)
    # One hour on an earlier day (batch_daily serves it) and one recent hour; both are
    # before the horizon the cycle sets.
    hours = [now - timedelta(hours=30), now - timedelta(hours=3)]
    rejected = _send(lane, hours, first_id=1000)
    result = run_cycle(lane.settings, now=now)
    assert (result.events, result.rejects) == (4, 1)

    # Each hour holds 2 * (2^63 - 1) per sum: past a bigint, exact in numeric(38,0).
    expected = expected_view(lane.settings, now, lambda hour: True)
    assert {k[1] for k in expected} == {PLACE} and len(expected) == 2
    assert all(v == (2, 2 * TOP, 2 * TOP, 2 * TOP) for v in expected.values())
    assert view_rows(lane.settings, "batch_view") == expected
    assert view_rows(lane.settings, "serving_view") == expected
    types = _sum_types(lane)
    for table in ("batch_view", "batch_daily", "speed_view", "serving_view"):
        assert types[(table, "tweet_count")] == "bigint"
        assert {types[(table, c)] for c in SUM_COLUMNS} == {"numeric(38,0)"}, table

    # The reject is kept in S3 with its reason and exact bytes.
    store = S3ObjectStore(lane.settings)
    kept = [
        record
        for key in store.list_keys(f"{REJECTS_PREFIX}/topic={lane.settings.kafka_topic}/")
        for record in read_master_object(store.get(key))
    ]
    assert [(r["reason"], r["value_b64"]) for r in kept] == [
        (TOO_LONG.removeprefix("reason: "), _b64(rejected[0][1]))
    ]

    # make query prints the sums digit for digit (JSON integers, never floats).
    hourly = _query_json(lane, "--name", "location_hourly", "--param", f"location={PLACE}")
    assert [(r["tweet_count"], r["followers_sum"], r["layer"]) for r in hourly] == [
        (2, 2 * TOP, "batch"),
        (2, 2 * TOP, "batch"),
    ]
    top = _query_json(lane, "--name", "top_locations", "--param", "hours=48")
    assert [(r["location"], r["tweet_count"]) for r in top] == [(PLACE, 4)]
    assert [r[c] for r in top for c in SUM_COLUMNS] == [4 * TOP] * 3
    daily = _query_json(lane, "--name", "daily_totals")
    by_day: dict[date, int] = {}
    for (hour, _), sums in expected.items():
        by_day[hour.date()] = by_day.get(hour.date(), 0) + sums[1]
    assert {date.fromisoformat(r["event_day"]): r["followers_sum"] for r in daily} == by_day
    assert all(r["favorite_sum"] == r["retweet_sum"] == r["followers_sum"] for r in daily)
    assert (
        str(2 * TOP)
        in run_module(
            "serving_layer", "query", "--name", "latest", "--format", "csv", env=lane.env()
        ).stdout
    )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@pytest.fixture
def job(lane: Lane, tmp_path: Path) -> Iterator[SpeedJob]:
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()  # what the job does at start, so the test can poll at once
    handle = SpeedJob(lane, tmp_path)
    yield handle
    if handle.alive():
        handle.kill()


def test_the_speed_job_adds_the_largest_counts_exactly_and_rejects_a_long_user_id(
    lane: Lane, job: SpeedJob
) -> None:
    now = datetime.now(UTC)
    # Two groups: the previous hour and this one.
    _send(lane, [now - timedelta(hours=1), now], first_id=2000)
    job.start()

    def expected() -> dict[ViewKey, ViewSums]:
        return expected_view(lane.settings, datetime.now(UTC), lambda hour: True)

    # No batch cycle: no horizon, everything is served from the speed layer.
    wait_until_equal(job, lambda: view_rows(lane.settings, "speed_view"), expected)
    want = expected()
    assert all(v == (2, 2 * TOP, 2 * TOP, 2 * TOP) for v in want.values()) and len(want) == 2
    # Another pair in this hour, in a later micro-batch: the job adds it to the
    # DECIMAL(38,0) sums its state holds, 4 * (2^63 - 1) in all.
    send_raw(lane.settings, [_top_event("2100", now), _top_event("2101", now)])
    wait_until_equal(job, lambda: view_rows(lane.settings, "speed_view"), expected)
    assert sorted(v[1] for v in expected().values()) == [2 * TOP, 4 * TOP]
    assert view_rows(lane.settings, "serving_view") == expected()

    # The reject is counted by the speed layer, and by no view.
    with Warehouse(lane.settings) as wh:
        for _ in range(60):
            rejects = int(wh.query("SELECT COALESCE(SUM(rejects), 0) FROM speed_batches")[0][0])
            if rejects:
                break
            time.sleep(0.5)
    assert rejects == 1, job.tail()
    latest = _query_json(lane, "--name", "latest")
    assert sorted((r["tweet_count"], r["retweet_sum"], r["layer"]) for r in latest) == [
        (2, 2 * TOP, "speed"),
        (4, 4 * TOP, "speed"),
    ]
    assert job.stop() == 0, job.tail()
    assert "Traceback" not in job.tail()


def _old_schema(dialect: str) -> list[str]:
    """schema.sql and the locations view's tables as they were when the sums were bigint
    (the only difference)."""
    locations = load_views()[0]
    old = [
        s.replace("numeric(38,0)", "bigint      ")
        for s in [*statements(load_sql("schema", dialect)), *table_ddl(locations, dialect)]
    ]
    assert not any("numeric" in s for s in old)
    return old


def _view_oid(wh: Warehouse) -> int:
    return int(wh.query("SELECT 'serving_view'::regclass::oid")[0][0])


def test_a_warehouse_with_bigint_sums_is_widened_in_place_keeping_every_row(lane: Lane) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    with Warehouse(lane.settings) as wh:
        with wh.transaction() as cur:
            for statement in [
                *_old_schema("postgres"),
                serving_ddl(load_views()[0], "postgres"),
            ]:
                cur.execute(statement)
            cur.execute(
                "INSERT INTO batch_view VALUES (%s, 'Paris', 3, %s, 5, 6)",
                (hour - timedelta(hours=5), TOP),
            )
            cur.execute("INSERT INTO speed_view VALUES (%s, 'Oslo', 1, 2, 3, 4)", (hour,))
            cur.execute("INSERT INTO batch_horizon VALUES (%s)", (hour - timedelta(hours=1),))
            for statement in statements(load_sql("batch_daily_rebuild", "postgres")):
                cur.execute(statement, {"since": BEGINNING, "until": hour - timedelta(hours=1)})
        before = sorted(wh.query("SELECT * FROM serving_view"))
        assert {_sum_types(lane)[("batch_view", c)] for c in SUM_COLUMNS} == {"bigint"}
        # An overflowing sum cannot be stored yet: what failed every publish.
        with pytest.raises(psycopg2.errors.NumericValueOutOfRange, match="bigint out of range"):
            wh.execute("UPDATE batch_view SET followers_sum = followers_sum + 1")

        wh.ensure_schema()
        types = _sum_types(lane)
        for table in ("batch_view", "batch_daily", "speed_view", "serving_view"):
            assert {types[(table, c)] for c in SUM_COLUMNS} == {"numeric(38,0)"}, table
            assert types[(table, "tweet_count")] == "bigint"
        assert sorted(wh.query("SELECT * FROM serving_view")) == before
        assert wh.query("SELECT followers_sum FROM batch_daily") == [(TOP,)]
        wh.execute("UPDATE batch_view SET followers_sum = followers_sum + 1")
        assert wh.query("SELECT followers_sum FROM batch_view") == [(TOP + 1,)]

        # Idempotent: a second start finds nothing to widen and keeps the very same view.
        oid = _view_oid(wh)
        wh.ensure_schema()
        assert _view_oid(wh) == oid


def test_a_view_of_the_operators_own_on_the_sums_stops_the_widening_in_one_line(
    lane: Lane,
) -> None:
    with Warehouse(lane.settings) as wh, wh.transaction() as cur:
        for statement in _old_schema("postgres"):
            cur.execute(statement)
        cur.execute(
            sql.SQL("CREATE VIEW {}.mine AS SELECT followers_sum FROM batch_view").format(
                sql.Identifier(lane.schema)
            )
        )
    done = run_module("batch_layer", "once", env=lane.env())
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not widen the sums of batch_daily, batch_view"), last
    assert "mine" in last and "Traceback" not in done.stderr
    # Rolled back whole: nothing widened, and the operator's view untouched.
    types = _sum_types(lane)
    assert {types[("batch_daily", c)] for c in SUM_COLUMNS} == {"bigint"}
    assert types[("mine", "followers_sum")] == "bigint"
