"""``python -m serving_layer query`` against real PostgreSQL: each named query in each
format over known rows of every view's batch and speed tables and a horizon; ``--sql``;
writes refused with the tables unchanged; unknown queries and parameters."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from psycopg2 import sql

from lambda_common.errors import QueryError
from lambda_common.render import QueryResult, render
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from serving_layer.catalogue import parse_query_text
from serving_layer.execute import run_named, run_query
from serving_layer.params import bind_params, utc_now

from .helpers import Lane, run_module

ODD = 'Tab\there "q" 🎉 \\N\nnext line'
ODD_TAG = "straße_🎉"
COLUMNS = ("event_hour", "location", "tweet_count", "followers_sum", "favorite_sum", "retweet_sum")
# batch_daily_rebuild.sql rebuilds the days since <= day < until: here, every day.


class Data:
    """Known rows relative to the current hour ``h``; the horizon is ``h - 2 hours``."""

    def __init__(self) -> None:
        self.h = utc_now().replace(minute=0, second=0, microsecond=0)
        self.horizon = self.hour(-2)
        self.batch = [
            (self.hour(-3), "Paris", 10, 100, 1, 2),
            (self.hour(-3), "Berlin", 4, 40, 0, 1),
            (self.hour(-5), "Paris", 7, 70, 3, 0),
            (self.hour(-30), "Paris", 50, 500, 5, 5),
            (self.hour(-24 * 40), "Paris", 99, 990, 9, 9),
            # At or after the horizon: served from speed_view, never from here.
            (self.hour(-2), "Paris", 1000, 1, 1, 1),
            (self.hour(-1), "Oslo", 500, 1, 1, 1),
        ]
        self.speed = [
            (self.hour(1), "Berlin", 1, 10, 0, 0),  # up to an hour ahead is valid
            (self.h, "Paris", 6, 60, 2, 2),
            (self.h, ODD, 2, 5, 1, 1),
            (self.hour(-2), "Paris", 3, 30, 0, 0),
            # Before the horizon: served from batch_view, never from here.
            (self.hour(-3), "Paris", 800, 1, 1, 1),
        ]

        # The hashtags and languages views: the same horizon, keys as the pipeline
        # normalises them.
        self.batch_hashtags = [
            (self.hour(-3), "python", 10, 100, 1, 2),
            (self.hour(-3), "kafka", 4, 40, 0, 1),
            (self.hour(-5), "python", 7, 70, 3, 0),
            (self.hour(-30), "python", 50, 500, 5, 5),
            (self.hour(-2), "python", 1000, 1, 1, 1),  # at the horizon: speed's
        ]
        self.speed_hashtags = [
            (self.hour(1), "kafka", 1, 10, 0, 0),
            (self.h, "python", 6, 60, 2, 2),
            (self.h, ODD_TAG, 2, 5, 1, 1),
            (self.hour(-2), "python", 3, 30, 0, 0),
            (self.hour(-3), "python", 800, 1, 1, 1),  # before the horizon: batch's
        ]
        self.batch_languages = [
            (self.hour(-3), "en", 10, 100, 1, 2),
            (self.hour(-3), "de", 4, 40, 0, 1),
            (self.hour(-5), "en", 7, 70, 3, 0),
            (self.hour(-30), "en", 50, 500, 5, 5),
            (self.hour(-2), "en", 1000, 1, 1, 1),  # at the horizon: speed's
        ]
        self.speed_languages = [
            (self.hour(1), "de", 1, 10, 0, 0),
            (self.h, "en", 6, 60, 2, 2),
            (self.h, "(unknown)", 3, 30, 0, 0),
            (self.hour(-3), "en", 800, 1, 1, 1),  # before the horizon: batch's
        ]

    def hour(self, delta: int) -> datetime:
        return self.h + timedelta(hours=delta)

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every view table's rows."""
        return {
            "batch_view": self.batch,
            "speed_view": self.speed,
            "batch_hashtags": self.batch_hashtags,
            "speed_hashtags": self.speed_hashtags,
            "batch_languages": self.batch_languages,
            "speed_languages": self.speed_languages,
        }

    def serving(self) -> list[tuple[Any, ...]]:
        """The serving view's rows with their layer, in the ``latest`` query's order."""
        rows = [(*r, "batch") for r in self.batch if r[0] < self.horizon]
        rows += [(*r, "speed") for r in self.speed if r[0] >= self.horizon]
        return sorted(rows, key=lambda r: (-r[0].timestamp(), -r[2], r[1]))

    def latest(self) -> list[tuple[Any, ...]]:
        """What ``latest`` shows: the rows of the 24 hours up to the newest hour held."""
        newest = max(r[0] for r in self.batch + self.speed)
        return [r for r in self.serving() if r[0] > newest - timedelta(days=1)]


@pytest.fixture
def data(lane: Lane) -> Data:
    data = Data()
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
        with wh.transaction() as cur:
            for table, rows in data.tables().items():
                cur.executemany(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s)").format(
                        sql.Identifier(table)
                    ),
                    rows,
                )
            cur.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (data.horizon,))
            # What the batch layer does with batch_view, in the same transaction: every
            # whole day the rows span (the statement takes day-aligned bounds).
            days = {
                "since": min(r[0] for r in data.batch).replace(hour=0),
                "until": max(r[0] for r in data.batch).replace(hour=0) + timedelta(days=1),
            }
            for statement in statements(load_sql("batch_daily_rebuild", wh.dialect)):
                cur.execute(statement, days)
    return data


def query(lane: Lane, *args: str) -> tuple[int, str, str]:
    done = run_module("serving_layer", "query", *args, env=lane.env(), timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def ok(lane: Lane, *args: str) -> str:
    code, out, err = query(lane, *args)
    assert code == 0, err
    return out


def as_json(columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the json format writes it."""
    return {
        c: v.isoformat() if isinstance(v, datetime) else v
        for c, v in zip(columns, row, strict=True)
    }


def test_latest_is_the_default_in_every_format(lane: Lane, data: Data) -> None:
    columns = (*COLUMNS, "layer")
    expected = data.latest()
    # Hours -30 and -960 are more than a day before the newest hour (+1): not shown.
    assert [r[-1] for r in expected] == ["speed"] * 4 + ["batch"] * 3
    assert [(r[1], r[2]) for r in expected][:4] == [
        ("Berlin", 1),
        ("Paris", 6),
        (ODD, 2),
        ("Paris", 3),
    ]

    got = json.loads(ok(lane, "--format", "json"))
    assert got == [as_json(columns, r) for r in expected]

    table = ok(lane)
    assert table == render(QueryResult(columns, expected), "table")
    assert 'Tab\\there "q" 🎉 \\N\\nnext line' in table and table.endswith("\n(7 rows)\n")

    rows = list(csv.reader(io.StringIO(ok(lane, "--name", "latest", "--format", "csv"))))
    assert rows[0] == list(columns)
    assert rows[1:] == [[str(v) for v in r] for r in expected]
    assert rows[3][1] == ODD  # verbatim: quotes, tab, newline, emoji, \N

    two = json.loads(ok(lane, "--name", "latest", "--param", "limit=2", "--format", "json"))
    assert [(r["location"], r["tweet_count"]) for r in two] == [("Berlin", 1), ("Paris", 6)]


def test_top_locations(lane: Lane, data: Data) -> None:
    got = json.loads(ok(lane, "--name", "top_locations", "--format", "json"))
    # The last 24 hours: everything served from hour -5 on (hour -30 and older are out).
    assert got == [
        {
            "location": "Paris",
            "tweet_count": 6 + 3 + 10 + 7,
            "followers_sum": 60 + 30 + 100 + 70,
            "favorite_sum": 2 + 0 + 1 + 3,
            "retweet_sum": 2 + 0 + 2 + 0,
            "active_hours": 4,
        },
        {
            "location": "Berlin",
            "tweet_count": 5,
            "followers_sum": 50,
            "favorite_sum": 0,
            "retweet_sum": 1,
            "active_hours": 2,
        },
        {
            "location": ODD,
            "tweet_count": 2,
            "followers_sum": 5,
            "favorite_sum": 1,
            "retweet_sum": 1,
            "active_hours": 1,
        },
    ]
    wider = ok(
        lane, "--name", "top_locations", "--param", "hours=48", "--param", "limit=1",
        "--format", "csv",
    )  # fmt: skip
    assert wider == (
        "location,tweet_count,followers_sum,favorite_sum,retweet_sum,active_hours\n"
        "Paris,76,760,11,9,5\n"
    )


def test_location_hourly(lane: Lane, data: Data) -> None:
    got = json.loads(
        ok(lane, "--name", "location_hourly", "--param", "location= Paris\t", "--format", "json")
    )
    assert [(r["event_hour"], r["tweet_count"], r["layer"]) for r in got] == [
        (data.h.isoformat(), 6, "speed"),
        (data.hour(-2).isoformat(), 3, "speed"),
        (data.hour(-3).isoformat(), 10, "batch"),
        (data.hour(-5).isoformat(), 7, "batch"),
        (data.hour(-30).isoformat(), 50, "batch"),
    ]
    assert list(got[0]) == [
        "event_hour", "tweet_count", "followers_sum", "favorite_sum", "retweet_sum", "layer",
    ]  # fmt: skip
    # This hour and the 9 before it: hour -30 is out. (The window's start falls between
    # rows, so a new hour starting mid-test changes nothing.)
    short = ok(
        lane, "--name", "location_hourly", "--param", "location=Paris", "--param", "hours=10"
    )
    assert short.endswith("\n(4 rows)\n")
    odd = json.loads(
        ok(lane, "--name", "location_hourly", "--param", f"location={ODD}", "--format", "json")
    )
    assert [(r["tweet_count"], r["layer"]) for r in odd] == [(2, "speed")]


def test_top_hashtags(lane: Lane, data: Data) -> None:
    got = json.loads(ok(lane, "--name", "top_hashtags", "--format", "json"))
    # The last 24 hours, each hour from the layer that serves it (hour -30 is out).
    assert got == [
        {
            "hashtag": "python",
            "tweet_count": 6 + 3 + 10 + 7,
            "followers_sum": 60 + 30 + 100 + 70,
            "favorite_sum": 2 + 0 + 1 + 3,
            "retweet_sum": 2 + 0 + 2 + 0,
            "active_hours": 4,
        },
        {
            "hashtag": "kafka",
            "tweet_count": 5,
            "followers_sum": 50,
            "favorite_sum": 0,
            "retweet_sum": 1,
            "active_hours": 2,
        },
        {
            "hashtag": ODD_TAG,
            "tweet_count": 2,
            "followers_sum": 5,
            "favorite_sum": 1,
            "retweet_sum": 1,
            "active_hours": 1,
        },
    ]
    wider = ok(
        lane, "--name", "top_hashtags", "--param", "hours=48", "--param", "limit=1",
        "--format", "csv",
    )  # fmt: skip
    assert wider == (
        "hashtag,tweet_count,followers_sum,favorite_sum,retweet_sum,active_hours\n"
        "python,76,760,11,9,5\n"
    )


def test_hashtag_hourly_matches_the_hashtag_as_the_pipeline_keys_it(lane: Lane, data: Data) -> None:
    got = json.loads(
        ok(lane, "--name", "hashtag_hourly", "--param", "hashtag=#Python ", "--format", "json")
    )
    assert [(r["event_hour"], r["tweet_count"], r["layer"]) for r in got] == [
        (data.h.isoformat(), 6, "speed"),
        (data.hour(-2).isoformat(), 3, "speed"),
        (data.hour(-3).isoformat(), 10, "batch"),
        (data.hour(-5).isoformat(), 7, "batch"),
        (data.hour(-30).isoformat(), 50, "batch"),
    ]
    assert list(got[0]) == [
        "event_hour", "tweet_count", "followers_sum", "favorite_sum", "retweet_sum", "layer",
    ]  # fmt: skip
    short = ok(lane, "--name", "hashtag_hourly", "--param", "hashtag=python", "--param", "hours=10")
    assert short.endswith("\n(4 rows)\n")
    odd = json.loads(
        ok(lane, "--name", "hashtag_hourly", "--param", "hashtag=#STRASSE_🎉", "--format", "json")
    )
    assert odd == []  # lower() keeps ß apart from ss, as the pipeline does
    odd = json.loads(
        ok(lane, "--name", "hashtag_hourly", "--param", "hashtag= #Straße_🎉", "--format", "json")
    )
    assert [(r["tweet_count"], r["layer"]) for r in odd] == [(2, "speed")]


def test_language_shares(lane: Lane, data: Data) -> None:
    got = json.loads(ok(lane, "--name", "language_shares", "--format", "json"))
    # The last 24 hours: en 10 + 7 + 6, de 4 + 1, (unknown) 3; 31 tweets in all.
    assert got == [
        {"lang": "en", "tweet_count": 23, "share_percent": 74.19},
        {"lang": "de", "tweet_count": 5, "share_percent": 16.13},
        {"lang": "(unknown)", "tweet_count": 3, "share_percent": 9.68},
    ]
    # The share is of every tweet in the window, not only of the languages shown; the
    # csv keeps the decimal as the warehouse gives it.
    assert ok(
        lane, "--name", "language_shares", "--param", "limit=1", "--param", "hours=48",
        "--format", "csv",
    ) == "lang,tweet_count,share_percent\nen,73,90.12\n"  # fmt: skip
    with Warehouse(lane.settings, role="reader") as reader:
        result = run_named(reader, "language_shares")
    assert [r[2] for r in result.rows] == [Decimal("74.19"), Decimal("16.13"), Decimal("9.68")]


def test_daily_totals(lane: Lane, data: Data) -> None:
    served = data.serving()
    days: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0, 0, set()])
    for hour, location, *sums, _layer in served:
        if hour >= data.h - timedelta(days=29, hours=data.h.hour):
            day = days[hour.date().isoformat()]
            for i, value in enumerate(sums):
                day[i] += value
            day[4].add(location)
    expected = [
        {
            "event_day": day,
            "tweet_count": v[0],
            "followers_sum": v[1],
            "favorite_sum": v[2],
            "retweet_sum": v[3],
            "locations": len(v[4]),
        }
        for day, v in sorted(days.items(), reverse=True)
    ]
    assert sum(d["tweet_count"] for d in expected) == 83  # all but the row 40 days ago
    assert json.loads(ok(lane, "--name", "daily_totals", "--format", "json")) == expected


def test_any_read_only_sql(lane: Lane, data: Data) -> None:
    out = ok(
        lane, "--sql",
        "SELECT location, tweet_count FROM speed_view WHERE location LIKE 'Par%' "
        "ORDER BY tweet_count;",
        "--format", "csv",
    )  # fmt: skip
    assert out == "location,tweet_count\nParis,3\nParis,6\nParis,800\n"
    assert ok(lane, "--sql", "SELECT MAX(horizon) AS h FROM batch_horizon") == (
        f"h\n----------------\n{data.horizon:%Y-%m-%d %H:%M}\n(1 row)\n"
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM batch_view", "only read-only queries are accepted"),
        ("SELECT 1; COMMIT; DELETE FROM batch_view", "only one SQL statement"),
        # Past the statement check, the read-only transaction itself refuses the write.
        (
            "WITH gone AS (DELETE FROM batch_view RETURNING 1) SELECT COUNT(*) FROM gone",
            "in a read-only transaction",
        ),
        ("SELECT * INTO copy_of_batch FROM batch_view", "read-only transaction"),
        ("SELECT event_hour FRM batch_view", 'syntax error at or near "batch_view"'),
        ("SELECT * FROM no_such_table", 'relation "no_such_table" does not exist'),
    ],
)
def test_writes_and_bad_sql_fail_in_one_line(
    lane: Lane, data: Data, sql: str, message: str
) -> None:
    code, out, err = query(lane, "--sql", sql)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert lane.settings.warehouse.password not in err
    with Warehouse(lane.settings) as wh:
        assert wh.query("SELECT COUNT(*) FROM batch_view") == [(len(data.batch),)]
        assert wh.query("SELECT to_regclass('copy_of_batch')") == [(None,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--name", "nope"),
            "unknown query 'nope'; named queries: daily_totals, hashtag_hourly, "
            "lang_hourly, language_shares, latest, latest_hashtags",
        ),
        (("--name", "location_hourly"), "needs --param location=VALUE"),
        (("--name", "hashtag_hourly"), "needs --param hashtag=VALUE"),
        (
            ("--name", "hashtag_hourly", "--param", "hashtag= # "),
            "parameter hashtag ' # ' is empty once trimmed and its leading # removed",
        ),
        (("--param", "hours=3"), "query latest has no parameter 'hours'; its parameters: limit=20"),
        (("--param", "limit=0"), "limit must be a whole number from 1"),
        (("--param", "limit"), "--param expects NAME=VALUE"),
        (("--sql", "SELECT 1", "--param", "limit=1"), "--param applies to named queries"),
    ],
)
def test_usage_errors_exit_2(lane: Lane, args: tuple[str, ...], message: str) -> None:
    code, out, err = query(lane, *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err


def test_list(lane: Lane) -> None:
    listed = json.loads(ok(lane, "--list", "--format", "json"))
    names = [q["name"] for q in listed]
    assert {
        "latest", "top_locations", "location_hourly", "daily_totals",
        "top_hashtags", "hashtag_hourly", "language_shares",
    } <= set(names)  # fmt: skip
    listed_text = ok(lane, "--list")
    assert "top_locations  (hours=24, limit=10)\n" in listed_text
    assert "top_hashtags  (hours=24, limit=10)\n" in listed_text
    assert "hashtag_hourly  (hashtag (required), hours=48)\n" in listed_text
    assert "language_shares  (hours=24, limit=20)\n" in listed_text


def test_the_functions_leave_the_connection_usable(lane: Lane, data: Data) -> None:
    """The demo reuses one Warehouse: after a query (or a refused write) it can write."""
    with Warehouse(lane.settings) as wh:
        before = run_named(wh, "latest", {"limit": "1"})
        assert before.rows == [(*data.latest()[0],)]
        with pytest.raises(QueryError, match="read-only transaction"):
            run_query(wh, "WITH d AS (DELETE FROM speed_view RETURNING 1) SELECT 1 FROM d")
        assert wh.connection().readonly is None
        wh.execute("DELETE FROM batch_horizon")
        # No horizon: everything comes from the speed layer.
        after = run_named(wh, "latest")
        assert {r[-1] for r in after.rows} == {"speed"}
        assert len(after.rows) == len(data.speed)


FIXTURES = Path(__file__).parent.parent / "fixtures" / "named_queries_v3"


@pytest.mark.parametrize("old", sorted(FIXTURES.glob("*.sql")), ids=lambda p: p.stem)
def test_the_derived_queries_answer_as_the_files_they_replace(
    lane: Lane, data: Data, old: Path
) -> None:
    """``top_locations``, ``location_hourly``, ``top_hashtags``, ``hashtag_hourly``,
    ``latest`` and ``layers`` were files until they were derived from the views: the same
    rows, rendered byte for byte alike in every format, as the file's text gives."""
    before = parse_query_text(old.stem, old.read_text(encoding="utf-8"))
    given = {p.name: ("Paris" if p.name == "location" else "python") for p in before.params}
    given = {k: v for k, v in given.items() if k in ("location", "hashtag")}
    now = utc_now()
    with Warehouse(lane.settings, role="reader") as reader:
        derived = run_named(reader, old.stem, given, now=now)
        kept = run_query(reader, before.text, bind_params(before, given, now=now))
    assert derived.rows, f"{old.stem}: the data should give it rows to compare"
    for fmt in ("table", "csv", "json"):
        assert render(derived, fmt) == render(kept, fmt)
